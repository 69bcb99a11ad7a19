// tutorial_3_concurrency: docs/tutorial.md, step 3 -- concurrency with join, all and pick.
// Starting a coroutine is starting its work, so two calls in a row already run
// concurrently; join/all wait for every one, pick for the first and cancels the others.
//
//   try: build/samples/tutorial_3_concurrency
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <chrono>
#include <string>
#include <vector>

using namespace std::chrono_literals;

lwt::promise<std::string> fetch(std::string what, std::chrono::milliseconds delay) {
    co_await lwt::unix_::sleep(delay);  // stands for a request that takes `delay`
    co_return what;
}

lwt::promise<void> program() {
    auto start = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    };

    // Both run at once: about 200 ms in all, not 300.
    std::vector<lwt::promise<std::string>> requests{fetch("a", 100ms), fetch("b", 200ms)};
    std::vector<std::string> both = co_await lwt::all(requests);
    fmt::print("all: {} and {} after ~{} ms\n", both[0], both[1], elapsed() / 100 * 100);

    // The first one wins; pick cancels the slow one.
    start = std::chrono::steady_clock::now();
    auto fast = fetch("fast", 50ms);
    auto slow = fetch("slow", 10s);
    std::string winner = co_await lwt::pick(fast, slow);
    fmt::print("pick: {} after ~{} ms; the slow one was cancelled: {}\n", winner, elapsed() / 50 * 50,
               slow.state() == lwt::state::rejected);
}

int main() { return lwt::main::run_program(program()); }
