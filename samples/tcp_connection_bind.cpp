// tcp_connection_bind: the guide's hand-written Tcp_connection as the OCaml reads, with >>=
// (Lwt.Infix) instead of coroutines: create, read >>= print, close.
//
//   try: build/samples/tcp_server & build/samples/tcp_connection_bind 127.0.0.1 8080
#include <lwt/bind.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>

#include <cstdlib>
#include <memory>
#include <string>

using namespace lwt;
using namespace lwt::infix;

struct tcp_connection {
    io::input_channel ic;
    io::output_channel oc;

    static promise<tcp_connection> create(const std::string& host, std::uint16_t port) {
        // The raw socket lives in the callback until connect settles.
        auto fd = std::make_shared<unix_::file_descr>(unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream));
        return unix_::connect(*fd, unix_::sockaddr::inet(host, port)) >>= [fd] {
            auto channels = io::of_socket(std::move(*fd));
            return return_(tcp_connection{channels.first, channels.second});
        };
    }
    promise<std::string> read() const { return io::read_line(ic); }
    promise<void> write(std::string s) const { return io::write(oc, s); }
    promise<void> close() const { return join(io::close(oc), io::close(ic)); }
};

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    auto port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8080);
    return main::run_program(tcp_connection::create(host, port) >>= [](tcp_connection connection) {
        return (connection.read() >>= [](const std::string& line) { return io::write_line(io::stdout_, line); }) >>=
               [connection] { return connection.close(); };
    });
}
