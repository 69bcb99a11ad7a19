// tcp_connection: the guide's hand-written Tcp_connection -- a raw socket, connect, the socket
// wrapped in channels, read, close.
//
//   try: build/samples/tcp_server & build/samples/tcp_connection 127.0.0.1 8080
#include <lwt/lwt.hpp>

#include <cstdlib>
#include <string>

using namespace lwt;

struct tcp_connection {
    io::input_channel ic;
    io::output_channel oc;

    static promise<tcp_connection> create(std::string host, std::uint16_t port) {
        // A raw socket, connected to the address...
        auto fd = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        co_await unix_::connect(fd, unix_::sockaddr::inet(host, port));
        // ...wrapped in the channel abstraction (both directions share the socket).
        auto [ic, oc] = io::of_socket(std::move(fd));
        co_return tcp_connection{ic, oc};
    }
    promise<std::string> read() const { return io::read_line(ic); }
    promise<void> write(std::string s) const { return io::write(oc, s); }
    // Closing both channels closes the socket.
    promise<void> close() const { return join(io::close(oc), io::close(ic)); }
};

int main(int argc, char** argv) {
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    auto port = static_cast<std::uint16_t>(argc > 2 ? std::atoi(argv[2]) : 8080);
    return main::run_program([&]() -> promise<void> {
        auto connection = co_await tcp_connection::create(host, port);
        co_await io::write_line(io::stdout_, co_await connection.read());
        co_await connection.close();
    });
}
