// tutorial_5_server: docs/tutorial.md, step 5 -- a server. Every client gets its own
// coroutine that upper-cases its lines; Ctrl-C (SIGINT) or SIGTERM shuts the server down.
//
//   try: build/samples/tutorial_5_server 9000 & nc 127.0.0.1 9000
#include <lwt/lwt.hpp>

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstdlib>

using namespace lwt;

promise<void> handle(unix_::sockaddr, io::input_channel in, io::output_channel out) {
    while (auto line = co_await io::read_line_opt(in)) {
        std::transform(line->begin(), line->end(), line->begin(), [](unsigned char c) { return std::toupper(c); });
        co_await io::write_line(out, *line);  // flushed when the connection goes idle
    }
}

promise<void> serve(std::uint16_t port) {
    auto server = co_await io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", port), handle);
    co_await io::printlf("listening on {}", server.listening_address().to_string());

    auto [stop, stopper] = wait<void>();
    for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stopper](int) { wakeup_later(r); });
    co_await stop;
    co_await io::shutdown_server(server);
}

int main(int argc, char** argv) { return main::run_program(serve(static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9000))); }
