// bench/sync: nanoseconds per operation of the type modules.
//   mutex_handoff   two coroutines passing a locked mutex back and forth (lock + unlock)
//   mvar_pingpong   two coroutines exchanging a value through two mvars (put + take)
//   stream_push_get one pusher, one reader (push + get)
//
//   sync                 every benchmark, median of 5
//   sync once N NAME     N operations of one (for callgrind, like bench/promise)
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace lwt;

namespace {

void mutex_handoff(long n) {
    mutex m;
    auto worker = [&m](long rounds) -> promise<void> {
        for (long i = 0; i < rounds; ++i) {
            co_await m.lock();
            co_await lwt::pause();  // hold it across an iteration: the other one queues
            m.unlock();
        }
    };
    main::run(join(worker(n / 2), worker(n / 2)));
}

void mvar_pingpong(long n) {
    mvar<long> ping, pong;
    auto a = [&](long rounds) -> promise<void> {
        for (long i = 0; i < rounds; ++i) {
            co_await ping.put(i);
            co_await pong.take();
        }
    };
    auto b = [&](long rounds) -> promise<void> {
        for (long i = 0; i < rounds; ++i) {
            long v = co_await ping.take();
            co_await pong.put(v);
        }
    };
    main::run(join(a(n / 2), b(n / 2)));
}

void stream_push_get(long n) {
    auto sp = stream<long>::create();
    long sum = 0;
    auto reader = [&]() -> promise<void> {
        while (auto v = co_await sp.first.get()) sum += *v;
    };
    auto r = reader();
    for (long i = 0; i < n; ++i) sp.second(i);
    sp.second(std::nullopt);
    main::run(r);
}

struct bench {
    const char* name;
    void (*fn)(long);
    long n;
};
const bench benches[] = {
    {"mutex_handoff", mutex_handoff, 2'000'000},
    {"mvar_pingpong", mvar_pingpong, 2'000'000},
    {"stream_push_get", stream_push_get, 5'000'000},
};

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "once") == 0) {
        for (const bench& b : benches)
            if (std::strcmp(b.name, argv[3]) == 0) {
                b.fn(std::atol(argv[2]));
                return 0;
            }
        return 2;
    }
    for (const bench& b : benches) {
        b.fn(b.n / 10);
        std::vector<double> ns;
        for (int rep = 0; rep < 5; ++rep) {
            auto t0 = std::chrono::steady_clock::now();
            b.fn(b.n);
            auto t1 = std::chrono::steady_clock::now();
            ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(b.n));
        }
        std::sort(ns.begin(), ns.end());
        fmt::print("{:<16} ns_per_op={:.1f}\n", b.name, ns[2]);
    }
}
