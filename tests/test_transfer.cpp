// lwt::unix_::transfer, what read, write, recv, send and their variants return: started by
// the call, awaited without allocating, converted to a promise where one is needed.
#include <lwt/bind.hpp>
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

// Counts every operator new: awaiting a transfer must allocate nothing.
#include "../bench/count_new.hpp"

using namespace lwt;
using test::tcp_pair;

namespace {

// Heap blocks handed out so far: operator new, and the runtime's pool (frames, cells).
std::uint64_t allocations() { return count_new::calls + lwt::detail::ctx.allocations; }

// `rounds` one-byte ping-pongs from a to b, each awaited where it is made; gives how many
// allocations they took (after one warm-up round).
promise<std::uint64_t> ping_pong_awaited(unix_::file_descr& a, unix_::file_descr& b, int rounds) {
    char out = 'x', in = 0;
    co_await unix_::send(a, &out, 1);
    co_await unix_::recv(b, &in, 1);
    std::uint64_t before = allocations();
    for (int i = 0; i < rounds; ++i) {
        co_await unix_::send(a, &out, 1);
        co_await unix_::recv(b, &in, 1);
    }
    co_return allocations() - before;
}

// The same through promises.
promise<std::uint64_t> ping_pong_promised(unix_::file_descr& a, unix_::file_descr& b, int rounds) {
    char out = 'x', in = 0;
    co_await unix_::send(a, &out, 1);
    co_await unix_::recv(b, &in, 1);
    std::uint64_t before = allocations();
    for (int i = 0; i < rounds; ++i) {
        lwt::promise<std::size_t> s = unix_::send(a, &out, 1);
        co_await s;
        lwt::promise<std::size_t> r = unix_::recv(b, &in, 1);
        co_await r;
    }
    co_return allocations() - before;
}

void send_now(const unix_::file_descr& fd, const char* s) {
    REQUIRE(::send(fd.fd(), s, std::strlen(s), MSG_NOSIGNAL) == static_cast<ssize_t>(std::strlen(s)));
}

}  // namespace

TEST_CASE("awaiting a transfer allocates nothing: the operation lives in the awaiting frame") {
    auto a_b_ = tcp_pair();
    REQUIRE(main::run(ping_pong_awaited(a_b_.first, a_b_.second, 1000)) == 0);
}

TEST_CASE("a transfer converted to a promise costs one cell per operation") {
    auto a_b_ = tcp_pair();
    REQUIRE(main::run(ping_pong_promised(a_b_.first, a_b_.second, 1000)) == 2000);
}

TEST_CASE("a transfer runs before it is awaited: its bytes arrive while nobody waits") {
    auto a_b_ = tcp_pair();
    auto& b = a_b_.second;
    char buf[8] = {};
    auto t = unix_::recv(b, buf, sizeof buf);
    REQUIRE(engine::live_operations() == 1);
    send_now(a_b_.first, "hi");
    main::run(unix_::sleep(0.05));  // the loop runs; nobody awaits t
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(std::string(buf) == "hi");
    auto f = [&]() -> promise<std::size_t> { co_return co_await t; };
    REQUIRE(main::run(f) == 2);
    REQUIRE(main::run(f) == 2);  // awaited again: the same outcome
}

TEST_CASE("a transfer dropped unawaited goes on in the background, like a dropped promise") {
    auto a_b_ = tcp_pair();
    char buf[8] = {};
    { auto t = unix_::recv(a_b_.second, buf, sizeof buf); }
    REQUIRE(engine::live_operations() == 1);
    send_now(a_b_.first, "late");
    main::run(unix_::sleep(0.05));
    REQUIRE(std::string(buf) == "late");
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a transfer converted to a promise while in flight goes on from the promise") {
    auto a_b_ = tcp_pair();
    char buf[8] = {};
    SECTION("converted at once") {
        lwt::promise p = unix_::recv(a_b_.second, buf, sizeof buf);
        REQUIRE(p.is_pending());
        REQUIRE(engine::live_operations() == 1);
        send_now(a_b_.first, "abc");
        REQUIRE(main::run(p) == 3);
    }
    SECTION("converted after the kernel took it") {
        auto t = unix_::recv(a_b_.second, buf, sizeof buf);
        main::run(lwt::pause());  // one iteration: the operation is submitted
        lwt::promise p = std::move(t);
        REQUIRE(p.is_pending());
        REQUIRE(engine::live_operations() == 1);
        send_now(a_b_.first, "abc");
        REQUIRE(main::run(p) == 3);
    }
    SECTION("converted after the bytes came, before the loop saw them") {
        auto t = unix_::recv(a_b_.second, buf, sizeof buf);
        main::run(lwt::pause());
        send_now(a_b_.first, "abc");
        lwt::promise<std::size_t> p = t;
        REQUIRE(main::run(p) == 3);  // the kernel's result, or the operation restarted: no byte lost
    }
    REQUIRE(std::string(buf) == "abc");
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("cancelling a transfer stops it at once; awaiting it then throws lwt::canceled") {
    auto a_b_ = tcp_pair();
    char buf[8];
    auto t = unix_::recv(a_b_.second, buf, sizeof buf);
    main::run(lwt::pause());
    cancel(t);
    REQUIRE(engine::live_operations() == 0);
    auto f = [&]() -> promise<std::size_t> { co_return co_await t; };
    REQUIRE_THROWS_AS(main::run(f), lwt::canceled);
    // The socket still works.
    send_now(a_b_.first, "x");
    REQUIRE(main::run(unix_::recv(a_b_.second, buf, sizeof buf)) == 1);
}

TEST_CASE("cancelling a coroutine reaches the transfer it awaits, which leaves nothing behind") {
    auto a_b_ = tcp_pair();
    char buf[8];
    auto reader = [&]() -> promise<std::size_t> { co_return co_await unix_::recv(a_b_.second, buf, sizeof buf); };
    REQUIRE_THROWS_AS(main::run(unix_::with_timeout(0.05, reader)), unix_::timeout_error);
    REQUIRE(engine::live_operations() == 0);
    auto p = reader();
    REQUIRE(p.is_pending());
    cancel(p);
    REQUIRE(test::is_canceled(p));
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a transfer stands in for a promise where a callable's promise is expected") {
    auto a_b_ = tcp_pair();
    char buf[8] = {};
    send_now(a_b_.first, "ok");
    REQUIRE(main::run([&] { return unix_::recv(a_b_.second, buf, sizeof buf); }) == 2);
    REQUIRE_THROWS_AS(
        main::run(unix_::with_timeout(0.05, [&] { return unix_::recv(a_b_.second, buf, sizeof buf); })),
        unix_::timeout_error);
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a transfer awaited by two coroutines at once, or after its conversion, is a logic_error") {
    auto a_b_ = tcp_pair();
    char buf[8];
    auto t = unix_::recv(a_b_.second, buf, sizeof buf);
    auto f = [&]() -> promise<std::size_t> { co_return co_await t; };
    auto first = f();
    auto second = f();
    REQUIRE(first.is_pending());
    REQUIRE(test::rejected_with<std::logic_error>(second));
    send_now(a_b_.first, "x");
    REQUIRE(main::run(first) == 1);

    auto u = unix_::recv(a_b_.second, buf, sizeof buf);
    lwt::promise<std::size_t> p = std::move(u);
    auto g = [&]() -> promise<std::size_t> { co_return co_await u; };
    REQUIRE(test::rejected_with<std::logic_error>(g()));
    cancel(p);
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("awaiting a transfer on a closed descriptor throws unix_error EBADF naming the call") {
    auto r_w_ = unix_::pipe();
    main::run(r_w_.first.close());
    main::run(r_w_.second.close());
    char buf[4];
    auto read_closed = [&]() -> promise<std::size_t> { co_return co_await unix_::read(r_w_.first, buf, sizeof buf); };
    auto write_closed = [&]() -> promise<std::size_t> { co_return co_await unix_::write(r_w_.second, "x", 1); };
    try {
        main::run(read_closed);
        FAIL("read should fail");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == EBADF);
        REQUIRE(std::string(e.call()) == "read");
    }
    try {
        main::run(write_closed);
        FAIL("write should fail");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == EBADF);
        REQUIRE(std::string(e.call()) == "write");
    }
}
