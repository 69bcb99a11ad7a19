// accept_loop: the guide's hand-written server -- socket, bind, listen, and an accept loop
// that greets each client on a channel over its socket, then closes it.
//
//   try: build/samples/accept_loop 8080 & nc 127.0.0.1 8080
#include <lwt/lwt.hpp>

#include <cstdlib>
#include <string>

using namespace lwt;

promise<void> serve(std::string host, std::uint16_t port) {
    auto socket = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::setsockopt(socket, unix_::socket_bool_option::so_reuseaddr, true);
    unix_::bind(socket, unix_::sockaddr::inet(host, port));
    unix_::listen(socket, 10);
    co_await io::eprintlf("listening on {}", unix_::getsockname(socket).to_string());
    for (;;) {
        // Out of descriptors, accept_with_backoff waits for some to be free, then goes on.
        auto [client_socket, peer] = co_await io::accept_with_backoff(socket);
        auto oc = io::of_fd(io::output, std::move(client_socket));
        std::string failed;
        try {
            co_await io::write_line(oc, "Hello from server!");
            co_await io::close(oc);  // flushes, then closes the client's socket
        } catch (const unix_::unix_error& e) {
            failed = e.what();  // that client left early: the server goes on
        }
        if (!failed.empty()) co_await io::eprintlf("{}: {}", peer.to_string(), failed);
    }
}

int main(int argc, char** argv) {
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8080);
    return main::run_program(serve("127.0.0.1", port));  // a failure: one line, exit status 2
}
