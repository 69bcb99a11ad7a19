// lwt::unix_::operation: what read, write, recv, send and their variants (a transfer), accept
// and connect return -- started by the call, awaited without allocating, converted to a
// promise where one is needed.
#include <lwt/bind.hpp>
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
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
// `rounds` connections to `srv`, each connect and accept awaited where it is made; gives
// how many allocations they took (after as many warm-up rounds).
promise<std::uint64_t> connect_accept_awaited(const unix_::file_descr& srv, int rounds) {
    const auto addr = unix_::getsockname(srv);
    std::uint64_t before = 0;
    for (int i = 0; i < 2 * rounds; ++i) {
        if (i == rounds) before = allocations();  // (the engine's buffers have grown by then)
        auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        co_await unix_::connect(c, addr);
        auto conn_peer_ = co_await unix_::accept(srv);
        if (conn_peer_.second != unix_::getsockname(c)) throw std::logic_error("wrong peer");
    }
    co_return allocations() - before;
}

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

TEST_CASE("awaiting connect and accept allocates nothing") {
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    REQUIRE(main::run(connect_accept_awaited(srv, 50)) == 0);
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
        lwt::promise<std::size_t> p = std::move(t);
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

TEST_CASE("an accept converted to a promise keeps its place among the waiting accepts") {
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    auto first = unix_::accept(srv);
    lwt::promise second = unix_::accept(srv);
    lwt::promise first_p = std::move(first);
    auto c1 = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c1, unix_::getsockname(srv)));
    auto c2 = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c2, unix_::getsockname(srv)));
    REQUIRE(main::run(first_p).second == unix_::getsockname(c1));
    REQUIRE(main::run(second).second == unix_::getsockname(c2));
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("an accept converted after the kernel took it still gets its connection") {
    // (On io_uring without multishot accept -- kernels before 5.19 -- it is restarted, so it
    // goes behind the accepts that were waiting with it; elsewhere it keeps its place.)
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    auto first = unix_::accept(srv);
    lwt::promise second = unix_::accept(srv);
    main::run(lwt::pause());  // both wait in the kernel, or in the engine
    lwt::promise first_p = std::move(first);
    auto c1 = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c1, unix_::getsockname(srv)));
    auto c2 = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c2, unix_::getsockname(srv)));
    auto p1 = main::run(first_p).second, p2 = main::run(second).second;
    const auto a1 = unix_::getsockname(c1), a2 = unix_::getsockname(c2);
    REQUIRE(((p1 == a1 && p2 == a2) || (p1 == a2 && p2 == a1)));
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("an accepted connection nobody takes is closed: dropped, cancelled late, or given twice") {
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    const auto addr = unix_::getsockname(srv);
    int before = test::open_fds();
    {
        auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        main::run(unix_::connect(c, addr));
        { auto dropped = unix_::accept(srv); }  // accepted in the background, then closed
        main::run(unix_::sleep(0.05));
        REQUIRE(engine::live_operations() == 0);
    }
    REQUIRE(test::open_fds() == before);
    {
        auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        main::run(unix_::connect(c, addr));
        auto acc = unix_::accept(srv);
        main::run(unix_::sleep(0.05));  // accepted: the connection waits in the operation
        REQUIRE(engine::live_operations() == 0);
        auto f = [&]() -> promise<void> {
            auto conn_peer_ = co_await acc;
            REQUIRE(conn_peer_.first.is_open());
        };
        main::run(f);
        REQUIRE_THROWS_AS(main::run(f), std::logic_error);  // the descriptor was given once
    }
    REQUIRE(test::open_fds() == before);
    {
        auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        main::run(unix_::connect(c, addr));
        auto never_awaited = unix_::accept(srv);
        main::run(unix_::sleep(0.05));
    }
    REQUIRE(test::open_fds() == before);
}

TEST_CASE("a refused connect throws unix_error ECONNREFUSED naming the address") {
    auto probe = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(probe, unix_::sockaddr::inet("127.0.0.1", 0));
    const auto addr = unix_::getsockname(probe);  // bound, not listening: connections are refused
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    auto f = [&]() -> promise<void> { co_await unix_::connect(c, addr); };
    try {
        main::run(f);
        FAIL("connect should fail");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == ECONNREFUSED);
        REQUIRE(std::string(e.call()) == "connect");
        REQUIRE(std::string(e.what()).find(addr.to_string()) != std::string::npos);
    }
}

TEST_CASE("destroying an operation another coroutine awaits cancels it: that coroutine sees lwt::canceled") {
    auto a_b_ = tcp_pair();
    char buf[8];
    std::string seen;
    auto waiter = [](unix_::transfer& t, std::string& out) -> promise<void> {
        try {
            co_await t;
            out = "done";
        } catch (const lwt::canceled&) {
            out = "canceled";
        }
    };
    std::optional<promise<void>> w;
    {
        auto t = unix_::recv(a_b_.second, buf, sizeof buf);
        main::run(lwt::pause());
        w.emplace(waiter(t, seen));
        REQUIRE(w->is_pending());
    }
    REQUIRE(seen == "canceled");
    REQUIRE(w->state() == lwt::state::fulfilled);
    REQUIRE(engine::live_operations() == 0);
    cancel(*w);  // nothing left to reach
}

TEST_CASE("an operation whose descriptor was closed fails with EBADF, even once the number is reused") {
    char buf[16] = {};
    auto r_w_ = unix_::pipe();
    auto t = unix_::read(r_w_.first, buf, sizeof buf);
    main::run(lwt::pause());  // in the kernel (io_uring), or parked (epoll)
    { unix_::file_descr closing = std::move(r_w_.first); }
    auto again = unix_::pipe();  // likely the same numbers
    REQUIRE(::write(again.second.fd(), "NEWPIPE", 7) == 7);
    lwt::promise<std::size_t> p = std::move(t);
    try {
        main::run(p);
        FAIL("the read should fail");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == EBADF);
    }
    REQUIRE(std::string(buf).empty());
    char check[16] = {};
    REQUIRE(main::run(unix_::read(again.first, check, sizeof check)) == 7);  // still there
}

namespace {
// Fills the pipe behind `w` without waiting; gives how many bytes it took.
std::size_t fill_pipe(const unix_::file_descr& w) {
    int fl = ::fcntl(w.fd(), F_GETFL);
    ::fcntl(w.fd(), F_SETFL, fl | O_NONBLOCK);
    std::string chunk(4096, 'f');
    std::size_t filled = 0;
    for (ssize_t n; (n = ::write(w.fd(), chunk.data(), chunk.size())) > 0;) filled += static_cast<std::size_t>(n);
    ::fcntl(w.fd(), F_SETFL, fl);
    return filled;
}

promise<std::string> read_exactly(const unix_::file_descr& r, std::size_t n) {
    std::string out;
    char buf[4096];
    while (out.size() < n) {
        std::size_t got = co_await unix_::read(r, buf, std::min(sizeof buf, n - out.size()));
        if (got == 0) break;
        out.append(buf, got);
    }
    co_return out;
}
}  // namespace

TEST_CASE("writes in flight converted or dropped are each written exactly once") {
    // (The order of two writes waiting on one pipe is the kernel's: io_uring may wake the
    // second first.)
    auto r_w_ = unix_::pipe();
    std::size_t filled = fill_pipe(r_w_.second);
    std::optional<promise<std::size_t>> first;
    {
        auto w1 = unix_::write(r_w_.second, "AAAA", 4);
        auto w2 = unix_::write(r_w_.second, "BBBB", 4);
        main::run(lwt::pause());  // both wait for room, in the kernel or parked
        REQUIRE(engine::live_operations() == 2);
        first.emplace(std::move(w1));
        REQUIRE(engine::live_operations() == 2);
    }  // w2 dropped: it goes on in the background
    std::string all = main::run(read_exactly(r_w_.first, filled + 8));
    std::string tail = all.substr(filled);
    REQUIRE((tail == "AAAABBBB" || tail == "BBBBAAAA"));
    REQUIRE(main::run(*first) == 4);
    REQUIRE(engine::live_operations() == 0);
    main::run(r_w_.second.close());  // nothing more was written
    char more;
    REQUIRE(main::run(unix_::read(r_w_.first, &more, 1)) == 0);
}

TEST_CASE("an accept converted while it waits for readiness still gets its connection") {
    // (io_uring one-shot accepts on a kernel that answers EAGAIN for a non-blocking socket --
    // the listening socket is one -- first wait for readiness; the conversion comes from a
    // timer fired in the same iteration, before that wait reaches the kernel. This machine's
    // kernel waits inside io_uring instead, so here it checks the plain case.)
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    int before = test::open_fds();
    std::optional<promise<std::pair<unix_::file_descr, unix_::sockaddr>>> p;
    {
        auto acc = unix_::accept(srv);
        auto convert = [&] { p.emplace(std::move(acc)); };
        on_success(unix_::sleep(0.0), convert);
        main::run(unix_::sleep(0.01));
        REQUIRE(p.has_value());
    }
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c, unix_::getsockname(srv)));
    auto conn_peer_ = main::run(*p);
    REQUIRE(conn_peer_.second == unix_::getsockname(c));
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == before + 2);  // c and the accepted connection, nothing else
}
