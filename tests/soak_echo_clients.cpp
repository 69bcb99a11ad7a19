// soak_echo_clients: the client side of the soak suite's echo scenario, in a process of its
// own, so that ten thousand connections fit under a hard RLIMIT_NOFILE of 20,000 (each side
// holds one descriptor per connection).
//
//   soak_echo_clients PORT N
//
// Connects N clients to 127.0.0.1:PORT (500 at a time, each batch connected before the next
// starts, so the listener's backlog never overflows). Once each has had its first chunk
// echoed it prints "established K F" (K clients established, F failures) and waits for a line
// on standard input; then every client goes on, and it prints "done B F" (B bytes echoed and
// checked) followed by the first failures, one per line, and exits 0 when F is 0, 1 otherwise.
// Exit status 2: a usage error or a failure of its own.
#include <lwt/io.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include "soak_echo.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

using namespace lwt;

namespace {

// Waits until done() holds, checking every millisecond, for at most `seconds`.
promise<void> until(std::function<bool()> done, const char* what, double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline)
            throw std::runtime_error(std::string("soak_echo_clients: timed out waiting for ") + what);
        co_await unix_::sleep(0.001);
    }
}

promise<int> run(std::uint16_t port, std::size_t n) {
    const auto addr = unix_::sockaddr::inet("127.0.0.1", port);
    soak::echo_state st;
    auto [barrier, open_barrier] = lwt::wait<void>();
    std::vector<promise<void>> clients;
    clients.reserve(n);
    for (std::size_t started = 0; started < n;) {
        const std::size_t upto = std::min(n, started + 500);
        for (; started < upto; ++started) clients.push_back(soak::echo_client(started, addr, barrier, st));
        co_await until([&] { return st.connected + st.failures.size() >= started; }, "a batch of clients to connect", 60);
    }
    co_await until([&] { return st.established + st.failures.size() >= n; }, "every connection's first echo", 120);
    co_await io::write_line(io::stdout_, "established " + std::to_string(st.established) + " " +
                                             std::to_string(st.failures.size()));
    co_await io::flush(io::stdout_);
    co_await io::read_line(io::stdin_);
    open_barrier.resolve();
    co_await until([&] { return st.done + st.failures.size() >= n; }, "every connection to finish", 300);
    co_await io::write_line(io::stdout_, "done " + std::to_string(st.bytes) + " " + std::to_string(st.failures.size()));
    for (std::size_t i = 0; i < std::min<std::size_t>(st.failures.size(), 10); ++i)
        co_await io::write_line(io::stdout_, st.failures[i]);
    co_await io::flush(io::stdout_);
    co_return st.failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fputs("usage: soak_echo_clients PORT N\n", stderr);
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const auto n = static_cast<std::size_t>(std::strtoull(argv[2], nullptr, 10));
    soak::raise_nofile();
    return main::run_program([&] { return run(port, n); });
}
