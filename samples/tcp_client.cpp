// tcp_client: from the Lwt guide -- connect with with_connection, send a request line, print
// the first line of the answer. Both channels are closed when the function's promise settles.
//
//   try: build/samples/tcp_server & build/samples/tcp_client 127.0.0.1 8080
#include <lwt/lwt.hpp>

#include <cstdlib>
#include <string>

using namespace lwt;

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    auto port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8080);
    return main::run_program(io::with_connection(unix_::sockaddr::inet(host, port), [](io::input_channel& ic, io::output_channel& oc) -> promise<void> {
        co_await io::write(oc, "GET / HTTP/1.1\r\n\r\n");
        co_await io::flush(oc);
        co_await io::write_line(io::stdout_, co_await io::read_line(ic));
    }));
}
