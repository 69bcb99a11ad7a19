// tcp_client_bind: the guide's client as the OCaml reads, with >>= (Lwt.Infix).
//
//   try: build/samples/tcp_server & build/samples/tcp_client_bind 127.0.0.1 8080
#include <lwt/bind.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>

#include <cstdlib>
#include <string>

using namespace lwt;
using namespace lwt::infix;

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    auto port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8080);
    return main::run_program(io::with_connection(unix_::sockaddr::inet(host, port), [](io::input_channel& ic, io::output_channel& oc) {
        return (io::write(oc, "GET / HTTP/1.1\r\n\r\n") >>= [ic] { return io::read_line(ic); }) >>=
               [](const std::string& line) { return io::write_line(io::stdout_, line); };
    }));
}
