// tutorial_7_cores: docs/tutorial.md, step 7 -- using every core. The server of step 5 runs
// on one loop per CPU (or as many as the second argument says); each loop has its own
// listening socket on the same port and the kernel spreads the clients among them. When the
// server stops, loop 0 asks every loop how many clients it served.
//
//   try: build/samples/tutorial_7_cores 9000 & nc 127.0.0.1 9000     (again in another terminal)
#include <lwt/lwt.hpp>

#include <csignal>
#include <cstdlib>

using namespace lwt;

// Each loop counts its own clients: a thread_local is per loop, so no lock and no atomic.
thread_local std::size_t served = 0;

promise<void> handle(unix_::sockaddr, io::input_channel in, io::output_channel out) {
    ++served;
    while (auto line = co_await io::read_line_opt(in)) co_await io::write_line(out, "loop " + std::to_string(loops::index()) + ": " + *line);
}

promise<void> serve(std::uint16_t port) {
    auto address = unix_::sockaddr::inet("127.0.0.1", port);
    auto server = co_await io::establish_server_with_client_address(address, handle, {.reuse_port = true});
    if (loops::index() == 0) co_await io::printlf("listening on {} with {} loops", address.to_string(), loops::count());

    auto [stop, stopper] = wait<void>();
    for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stopper](int) { wakeup_later(r); });
    co_await stop;
    co_await io::shutdown_server(server);

    if (loops::index() == 0) {
        std::size_t total = 0;
        for (std::size_t i = 0; i < loops::count(); ++i) total += co_await loops::post(i, [] { return served; });
        co_await io::printlf("served {} clients", total);
    }
}

int main(int argc, char** argv) {
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 9000);
    std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : loops::available_cpus();
    return main::run_program([&] { loops::run(n, [port](std::size_t) { return serve(port); }); });
}
