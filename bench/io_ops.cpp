// bench/io_ops: per-operation cost of the I/O calls on this thread's engine (LWT_ENGINE).
//
//   io_ops [ROUNDS]   one-byte ping-pongs on a socketpair (a send, then a recv of that byte),
//                     each operation awaited where it is made (a transfer), then the same
//                     with every operation converted to a promise; then as many fstat and
//                     stat calls on a file in /tmp, awaited and converted: wall ns per
//                     operation (median of 5) and allocations per operation.
//
// Allocations count global operator new calls plus blocks from lwt's pool (frames, promise
// cells): "no allocation per I/O operation" reads 0.00 in the first row.
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <stdlib.h>
#include <unistd.h>

#include "count_new.hpp"

namespace {

namespace unix_ = lwt::unix_;

std::uint64_t allocations() { return count_new::calls + lwt::detail::ctx.allocations; }

struct figures {
    double ns_per_op;
    double allocs_per_op;
};

// n rounds of two operations, in one coroutine frame.
using workload = lwt::promise<void> (*)(long n);

// Runs `rounds` rounds once for warm-up (a tenth), then 5 times; gives the median.
figures measure(long rounds, workload run) {
    lwt::main::run(run(rounds / 10 + 1));
    std::vector<double> ns;
    double allocs = 0;
    for (int pass = 0; pass < 5; ++pass) {
        std::uint64_t a0 = allocations();
        auto t0 = std::chrono::steady_clock::now();
        lwt::main::run(run(rounds));
        auto t1 = std::chrono::steady_clock::now();
        allocs = static_cast<double>(allocations() - a0 - 1) / static_cast<double>(2 * rounds);  // - the frame
        ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(2 * rounds));
    }
    std::sort(ns.begin(), ns.end());
    return {ns[2], allocs};
}

char out_byte = 'x', in_byte = 0;
unix_::file_descr* sock_a;
unix_::file_descr* sock_b;
unix_::file_descr* file;
const char* file_path = "";  // short enough to be copied without allocating

lwt::promise<void> ping_pong_awaited(long n) {
    for (long i = 0; i < n; ++i) {
        co_await unix_::send(*sock_a, &out_byte, 1);
        co_await unix_::recv(*sock_b, &in_byte, 1);
    }
}

lwt::promise<void> ping_pong_promised(long n) {
    for (long i = 0; i < n; ++i) {
        lwt::promise<std::size_t> s = unix_::send(*sock_a, &out_byte, 1);
        co_await s;
        lwt::promise<std::size_t> r = unix_::recv(*sock_b, &in_byte, 1);
        co_await r;
    }
}

lwt::promise<void> stat_awaited(long n) {
    for (long i = 0; i < n; ++i) {
        co_await unix_::fstat(*file);
        co_await unix_::stat(file_path);
    }
}

lwt::promise<void> stat_promised(long n) {
    for (long i = 0; i < n; ++i) {
        lwt::promise<unix_::stats> s = unix_::fstat(*file);
        co_await s;
        lwt::promise<unix_::stats> t = unix_::stat(file_path);
        co_await t;
    }
}

}  // namespace

int main(int argc, char** argv) {
    long rounds = argc > 1 ? std::atol(argv[1]) : 200'000;
    if (rounds <= 0) {
        fmt::print(stderr, "usage: io_ops [ROUNDS > 0]\n");
        return 2;
    }
    fmt::print("io_ops on the {} engine, {} rounds of 2 operations\n", lwt::engine::id(), rounds);
    auto row = [](const char* name, figures f) {
        fmt::print("{:<40} {:>8.1f} ns/op {:>6.2f} allocations/op\n", name, f.ns_per_op, f.allocs_per_op);
    };
    auto [a, b] = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
    sock_a = &a;
    sock_b = &b;
    row("co_await unix_::send / recv (transfer)", measure(rounds, ping_pong_awaited));
    row("through promise<std::size_t>", measure(rounds, ping_pong_promised));

    char path[] = "/tmp/lwtXXXXXX";  // (15 characters: inside a string's own buffer)
    unix_::file_descr f(::mkstemp(path));
    if (!f) {
        fmt::print(stderr, "io_ops: mkstemp failed\n");
        return 1;
    }
    file = &f;
    file_path = path;
    row("co_await unix_::fstat / stat (stat_op)", measure(rounds, stat_awaited));
    row("through promise<unix_::stats>", measure(rounds, stat_promised));
    ::unlink(path);
    return 0;
}
