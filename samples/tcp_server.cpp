// tcp_server: from the Lwt guide -- establish_server_with_client_address greets every
// client; SIGINT/SIGTERM shut the server down (shutdown_server), which Lwt's version only
// reaches after a promise that never resolves.
//
//   try: build/samples/tcp_server 8080 & nc 127.0.0.1 8080
#include <lwt/lwt.hpp>

#include "log_failures.hpp"

#include <csignal>
#include <cstdlib>

using namespace lwt;

int main(int argc, char** argv) {
    log_failures("tcp_server");
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 8080);
    return main::run_program([port]() -> promise<void> {
        auto server = co_await io::establish_server_with_client_address(
            unix_::sockaddr::inet("127.0.0.1", port), [](unix_::sockaddr, io::input_channel, io::output_channel oc) -> promise<void> {
                co_await io::write_line(oc, "Hello from server!");
                co_await io::flush(oc);
            });
        co_await io::eprintlf("listening on {}", server.listening_address().to_string());
        auto stop = wait<void>();
        for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stop.second](int) { lwt::wakeup_later(r); });
        co_await stop.first;
        co_await io::shutdown_server(server);
    });
}
