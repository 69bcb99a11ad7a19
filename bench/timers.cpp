// bench/timers: N sleeps of random durations up to 100 ms, armed at once, all awaited.
// Prints the time to arm them, the wall time from the first call to the last firing minus
// the longest sleep (the runtime's own overhead), loop iterations, and peak memory.
//
//   timers [N]        (default 1,000,000)
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <vector>

int main(int argc, char** argv) {
    long n = argc > 1 ? std::atol(argv[1]) : 1'000'000;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> us(0, 100'000);
    std::vector<std::chrono::microseconds> d(static_cast<std::size_t>(n));
    std::chrono::microseconds longest{0};
    for (auto& x : d) {
        x = std::chrono::microseconds(us(rng));
        if (x > longest) longest = x;
    }
    std::size_t iterations = 0;
    lwt::main::enter_iter_hooks().add_last([&] { ++iterations; });
    auto t0 = std::chrono::steady_clock::now();
    std::vector<lwt::promise<void>> all;
    all.reserve(static_cast<std::size_t>(n));
    for (auto x : d) all.push_back(lwt::unix_::sleep(x));
    auto t1 = std::chrono::steady_clock::now();
    lwt::main::run(lwt::join(std::move(all)));
    auto t2 = std::chrono::steady_clock::now();
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    fmt::print("timers={} engine={} arm_ms={:.1f} total_ms={:.1f} beyond_longest_ms={:.1f} iterations={} peak_rss_mb={:.1f}\n",
               n, lwt::engine::id(), ms(t0, t1), ms(t0, t2),
               ms(t0, t2) - std::chrono::duration<double, std::milli>(longest).count(), iterations,
               static_cast<double>(ru.ru_maxrss) / 1024.0);
    return 0;
}
