// bench/promise: per-operation cost of the promise core.
//
//   promise                 every benchmark, wall clock (median of 5) and allocations
//   promise once N NAME     run NAME for N operations and nothing else (for callgrind:
//                           tools/micro_ir.sh computes instructions per operation as
//                           (Ir(2N) - Ir(N)) / N, which cancels start-up and teardown)
//
// Allocations count global operator new calls plus blocks from lwt's frame pool (a pooled
// block is still one allocation per frame; the pool only makes it cheap).
#include <lwt/direct.hpp>
#include <lwt/main.hpp>
#include <lwt/promise.hpp>

#include <fmt/core.h>

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "count_new.hpp"

namespace {

std::uint64_t allocations() { return count_new::calls + lwt::detail::ctx.allocations; }

volatile long sink;

// (a) co_await of a resolved promise.
void await_resolved(long n) {
    auto one = lwt::return_(1L);
    auto loop = [](long n, lwt::promise<long>& one) -> lwt::promise<long> {
        long s = 0;
        for (long i = 0; i < n; ++i) s += co_await one;
        co_return s;
    };
    sink = loop(n, one).value();
}

// (b) calling a coroutine that completes without suspending.
__attribute__((noinline)) lwt::promise<long> plus_one(long x) { co_return x + 1; }
void call_resolved(long n) {
    long s = 0;
    for (long i = 0; i < n; ++i) s += plus_one(i).value();
    sink = s;
}

// (c) wait + co_await + resolve + resume: one consumer coroutine loops over fresh wait()s.
void wait_await_resolve(long n) {
    std::optional<lwt::resolver<long>> slot;
    long got = 0;
    auto consumer = [](std::optional<lwt::resolver<long>>& slot, long& got) -> lwt::promise<void> {
        for (;;) {
            auto w = lwt::wait<long>();
            slot.emplace(std::move(w.second));
            long v = co_await w.first;
            if (v < 0) co_return;
            got += v;
        }
    };
    auto c = consumer(slot, got);
    for (long i = 0; i < n; ++i) slot->resolve(i);
    slot->resolve(-1);
    sink = got;
}

// (d) pick of two tasks, the first resolved.
void pick_two(long n) {
    long s = 0;
    for (long i = 0; i < n; ++i) {
        auto a = lwt::task<long>();
        auto b = lwt::task<long>();
        auto p = lwt::pick(a.first, b.first);
        a.second.resolve(i);
        s += p.value();
    }
    sink = s;
}

// (e) join of 1,000 pending promises resolved one by one; n counts resolved promises.
void join_1000(long n) {
    for (long done = 0; done < n; done += 1000) {
        std::vector<lwt::promise<void>> ps;
        std::vector<lwt::resolver<void>> rs;
        ps.reserve(1000);
        rs.reserve(1000);
        for (int i = 0; i < 1000; ++i) {
            auto w = lwt::wait<void>();
            ps.push_back(std::move(w.first));
            rs.push_back(std::move(w.second));
        }
        auto j = lwt::join(std::move(ps));
        for (auto& r : rs) r.resolve();
        sink = j.is_pending();
    }
}

// (f) direct::spawn of a trivial task run to completion (1,000 per loop run).
void spawn_run(long n) {
    for (long done = 0; done < n; done += 1000) {
        long s = 0;
        lwt::promise<void> last = lwt::return_();
        for (int i = 0; i < 1000; ++i)
            last = lwt::direct::spawn([&s]() -> lwt::promise<void> {
                ++s;
                co_return;
            });
        lwt::main::run(last);
        sink = s;
    }
}

// (g) pause() round trip with 1,000 coroutines pausing each loop iteration.
void pause_x1000(long n) {
    long rounds = std::max(1L, n / 1000);
    auto worker = [](long rounds) -> lwt::promise<void> {
        for (long r = 0; r < rounds; ++r) co_await lwt::pause();
    };
    std::vector<lwt::promise<void>> ws;
    ws.reserve(1000);
    for (int i = 0; i < 1000; ++i) ws.push_back(worker(rounds));
    lwt::main::run(lwt::join(std::move(ws)));
}

// Memory per suspended coroutine: 1,000,000 coroutines pending on one wait() promise.
void suspended_1m(long n) {
    auto w = lwt::wait<void>();
    auto c = [](lwt::promise<void> p) -> lwt::promise<void> { co_await p; };
    std::vector<lwt::promise<void>> all;
    all.reserve(static_cast<std::size_t>(n));
    for (long i = 0; i < n; ++i) all.push_back(c(w.first));
    w.second.resolve();
}

struct bench {
    const char* name;
    const char* what;
    void (*fn)(long);
    long n;
};

const bench benches[] = {
    {"await_resolved", "(a) co_await of a resolved promise", await_resolved, 50'000'000},
    {"call_resolved", "(b) call of a coroutine completing without suspending", call_resolved, 10'000'000},
    {"wait_await_resolve", "(c) wait + co_await + resolve + resume", wait_await_resolve, 10'000'000},
    {"pick_two", "(d) pick of two tasks", pick_two, 2'000'000},
    {"join_1000", "(e) join of 1,000 pending promises, per promise", join_1000, 5'000'000},
    {"spawn_run", "(f) direct::spawn of a trivial task run to completion", spawn_run, 5'000'000},
    {"pause_x1000", "(g) pause() round trip, 1,000 coroutines per iteration", pause_x1000, 10'000'000},
};

double run_ns(const bench& b, std::uint64_t& allocs) {
    std::uint64_t a0 = allocations();
    auto t0 = std::chrono::steady_clock::now();
    b.fn(b.n);
    auto t1 = std::chrono::steady_clock::now();
    allocs = allocations() - a0;
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(b.n);
}

std::size_t heap_in_use() {
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 4 && std::strcmp(argv[1], "once") == 0) {
        long n = std::atol(argv[2]);
        for (const bench& b : benches)
            if (std::strcmp(b.name, argv[3]) == 0) {
                b.fn(n);
                return 0;
            }
        if (std::strcmp(argv[3], "suspended_1m") == 0) {
            suspended_1m(n);
            return 0;
        }
        fmt::print(stderr, "unknown benchmark {}\n", argv[3]);
        return 2;
    }
    for (const bench& b : benches) {
        b.fn(b.n / 10);  // warm the pool and the caches
        std::vector<double> ns;
        std::uint64_t allocs = 0;
        for (int rep = 0; rep < 5; ++rep) ns.push_back(run_ns(b, allocs));
        std::sort(ns.begin(), ns.end());
        fmt::print("{:<20} ns_per_op={:<8.2f} allocs_per_op={:<6.3f} # {}\n", b.name, ns[2],
                   static_cast<double>(allocs) / static_cast<double>(b.n), b.what);
    }
    {
        // Bytes per suspended coroutine: heap growth with 1,000,000 pending, measured while
        // they are pending (the frames come from the pool's malloc'ed blocks).
        constexpr long n = 1'000'000;
        auto w = lwt::wait<void>();
        auto c = [](lwt::promise<void> p) -> lwt::promise<void> { co_await p; };
        std::vector<lwt::promise<void>> all;
        all.reserve(n);
        std::size_t before = heap_in_use();
        for (long i = 0; i < n; ++i) all.push_back(c(w.first));
        std::size_t after = heap_in_use();
        fmt::print("{:<20} bytes_per_coroutine={:.1f} # 1,000,000 coroutines suspended on one promise\n",
                   "suspended_1m", static_cast<double>(after - before) / n);
        w.second.resolve();
    }
    return 0;
}
