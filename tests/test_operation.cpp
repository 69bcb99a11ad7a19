// lwt::unix_::operation: what the system calls of lwt::unix_ return (read, write, recv, send
// and their variants, accept, connect, open, stat, the path calls, fsync, close, recvfrom,
// sendto) -- started by the call, awaited without allocating, converted to a promise where
// one is needed.
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

#if LWT_TEST_PROBE_URING
#include <liburing.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>

// Counts every operator new: awaiting a transfer must allocate nothing.
#include "count_new.hpp"

using namespace lwt;
using test::tcp_pair;

namespace {

// Heap blocks handed out so far: operator new, and the runtime's pool (frames, cells).
std::uint64_t allocations() { return count_new::calls + lwt::detail::ctx.allocations; }

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
    test::settle_idle();  // the loop runs until the recv is done; nobody awaits t
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
    test::settle_idle();
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

TEST_CASE("a transfer awaited by two coroutines at once is a logic_error for the second") {
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
}

TEST_CASE("a transfer awaited after its conversion to a promise is a logic_error") {
    auto a_b_ = tcp_pair();
    char buf[8];
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
        test::settle_idle();
        REQUIRE(engine::live_operations() == 0);
    }
    REQUIRE(test::open_fds() == before);
    {
        auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        main::run(unix_::connect(c, addr));
        auto acc = unix_::accept(srv);
        test::settle_idle();  // accepted: the connection waits in the operation
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
        test::settle_idle();  // accepted, then destroyed unawaited
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
    const int number = r_w_.first.fd();
    auto t = unix_::read(r_w_.first, buf, sizeof buf);
    main::run(lwt::pause());  // in the kernel (io_uring), or parked (epoll)
    { unix_::file_descr closing = std::move(r_w_.first); }
    auto again = unix_::pipe();  // its read end takes the lowest free number: the one closed
    if (again.first.fd() != number) {  // (a lower one was free): put it there
        REQUIRE(again.second.fd() != number);
        REQUIRE(::dup3(again.first.fd(), number, O_CLOEXEC) == number);
        again.first = unix_::file_descr(number);
    }
    REQUIRE(again.first.fd() == number);
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

namespace {

// Whether this kernel's io_uring answers an accept on a non-blocking listening socket with
// nothing queued by -EAGAIN (the engine then waits for readiness and retries), rather than
// waiting inside io_uring. Asked of a ring of its own, on a listener like the runtime's.
bool uring_accept_answers_eagain() {
#if LWT_TEST_PROBE_URING
    auto l = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(l, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(l);  // (non-blocking from here)
    io_uring ring;
    if (io_uring_queue_init(4, &ring, 0) != 0) return false;
    io_uring_sqe* sqe = io_uring_get_sqe(&ring);
    io_uring_prep_accept(sqe, l.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_submit(&ring);
    // A connection: the kernel answers either way -- -EAGAIN at once, or with the connection.
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const auto to = unix_::getsockname(l);
    REQUIRE(::connect(c, to.raw(), to.size()) == 0);
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec limit{.tv_sec = 5, .tv_nsec = 0};
    int res = io_uring_wait_cqe_timeout(&ring, &cqe, &limit) == 0 ? cqe->res : -ETIME;
    if (res >= 0) ::close(res);
    io_uring_queue_exit(&ring);
    ::close(c);
    return res == -EAGAIN;
#else
    return false;
#endif
}

}  // namespace

TEST_CASE("an accept converted while it waits for readiness still gets its connection") {
    // Waiting for readiness: on epoll, parked in the engine; on io_uring, a one-shot accept
    // on a kernel that answers EAGAIN for a non-blocking socket (the listening socket is
    // one) -- the conversion then comes from a timer fired in the same iteration, before
    // that wait reaches the kernel. Multishot accepts never wait for readiness, nor do
    // one-shot accepts where the kernel waits inside io_uring: those runs check the
    // conversion of an accept waiting in the kernel or the engine, then skip.
    const bool uring = engine::id() == "uring";
    const bool multishot = test::multishot_accepts();
    const bool eagain = uring && !multishot && uring_accept_answers_eagain();
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    int before = test::open_fds();
    std::optional<promise<std::pair<unix_::file_descr, unix_::sockaddr>>> p;
    {
        auto acc = unix_::accept(srv);
        auto convert = [&] { p.emplace(std::move(acc)); };
        on_success(unix_::sleep(0.0), convert);
        test::settle([&] { return p.has_value(); }, "the timer that converts the accept");
    }
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c, unix_::getsockname(srv)));
    auto conn_peer_ = main::run(*p);
    REQUIRE(conn_peer_.second == unix_::getsockname(c));
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == before + 2);  // c and the accepted connection, nothing else
    if (uring && !eagain)
        test::skip(multishot ? "io_uring multishot accepts never wait for readiness"
                             : "this kernel's io_uring waits inside the kernel for a non-blocking socket's "
                               "accept (no EAGAIN): no readiness wait to convert from");
}

// ---------------------------------------------------------------------------------------
// Files, paths and datagrams: the same operations.

namespace {

// Every file and path operation on `dir`, each awaited where it is made, twice; gives how
// many allocations the second round took. The paths are made before it is counted: a
// string longer than its inline buffer is an allocation of its own.
promise<std::uint64_t> file_ops_awaited(const std::string& dir) {
    std::uint64_t before = 0;
    for (int round = 0; round < 2; ++round) {
        std::string names[] = {dir + "/f", dir + "/f", dir + "/f", dir + "/nope", dir + "/d",
                               dir + "/d", dir + "/e", dir + "/f", dir + "/h", dir + "/f",
                               dir + "/l", dir + "/l", dir + "/h", dir + "/e", dir + "/f", dir + "/l"};
        if (round == 1) before = allocations();
        auto fd = co_await unix_::openfile(std::move(names[0]), O_CREAT | O_RDWR | O_TRUNC);
        co_await unix_::write(fd, "x", 1);
        co_await unix_::fsync(fd);
        co_await unix_::fdatasync(fd);
        auto by_fd = co_await unix_::fstat(fd);
        auto by_path = co_await unix_::stat(std::move(names[1]));
        auto no_follow = co_await unix_::lstat(std::move(names[2]));
        if (by_fd.size != 1 || by_path.ino != by_fd.ino || no_follow.kind != unix_::file_kind::regular)
            throw std::logic_error("wrong stats");
        if (co_await unix_::file_exists(std::move(names[3]))) throw std::logic_error("exists");
        co_await unix_::mkdir(std::move(names[4]));
        co_await unix_::rename(std::move(names[5]), std::move(names[6]));
        co_await unix_::link(std::move(names[7]), std::move(names[8]));
        co_await unix_::symlink(std::move(names[9]), std::move(names[10]));
        if (!co_await unix_::file_exists(std::move(names[11]))) throw std::logic_error("missing");
        co_await unix_::unlink(std::move(names[12]));
        co_await unix_::rmdir(std::move(names[13]));
        co_await unix_::unlink(std::move(names[14]));
        co_await fd.close();
        co_await unix_::unlink(std::move(names[15]));
    }
    co_return allocations() - before;
}

// `rounds` datagrams from a to b and back, each awaited where it is made.
promise<std::uint64_t> datagrams_awaited(const unix_::file_descr& a, const unix_::file_descr& b, int rounds) {
    const auto to_a = unix_::getsockname(a), to_b = unix_::getsockname(b);
    char buf[8];
    std::uint64_t before = 0;
    for (int i = 0; i < 2 * rounds; ++i) {
        if (i == rounds) before = allocations();
        co_await unix_::sendto(a, "ping", 4, to_b);
        auto n_from_ = co_await unix_::recvfrom(b, buf, sizeof buf);
        if (n_from_.first != 4 || n_from_.second != to_a) throw std::logic_error("wrong datagram");
        co_await unix_::sendto(b, "pong", 4, n_from_.second);
        auto back = co_await unix_::recvfrom(a, buf, sizeof buf);
        if (back.second != to_b) throw std::logic_error("wrong sender");
    }
    co_return allocations() - before;
}

std::pair<unix_::file_descr, unix_::file_descr> udp_pair() {
    auto a = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::dgram);
    unix_::bind(a, unix_::sockaddr::inet("127.0.0.1", 0));
    auto b = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::dgram);
    unix_::bind(b, unix_::sockaddr::inet("127.0.0.1", 0));
    return {std::move(a), std::move(b)};
}

}  // namespace

TEST_CASE("awaiting file and path operations allocates nothing: open to close") {
    test::temp_dir dir;
    REQUIRE(main::run(file_ops_awaited(dir.path)) == 0);
}

TEST_CASE("awaiting sendto and recvfrom allocates nothing") {
    auto a_b_ = udp_pair();
    REQUIRE(main::run(datagrams_awaited(a_b_.first, a_b_.second, 100)) == 0);
}

namespace {

// Runs the scope in `dir` (relative paths short enough to live inside the operation).
struct in_directory {
    std::string old;
    explicit in_directory(const std::string& dir) {
        char buf[4096];
        REQUIRE(::getcwd(buf, sizeof buf) != nullptr);
        old = buf;
        REQUIRE(::chdir(dir.c_str()) == 0);
    }
    ~in_directory() { [[maybe_unused]] int r = ::chdir(old.c_str()); }
};

// Room for one operation: made here, converted to a promise, destroyed, and its bytes
// overwritten -- a request still pointing into it (a path, an address) would read 'Z's.
template <class Op>
struct scrubbed {
    alignas(Op) unsigned char bytes[sizeof(Op)];
    template <class Make>
    auto convert(Make make) {
        Op* op = new (bytes) Op(make());
        lwt::promise p = std::move(*op);
        op->~Op();
        std::memset(bytes, 'Z', sizeof bytes);
        return p;
    }
};

void make_file(const char* path, const char* content) {
    int fd = ::open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content, std::strlen(content)) == static_cast<ssize_t>(std::strlen(content)));
    ::close(fd);
}

}  // namespace

TEST_CASE("a path operation converted before the kernel took it reads the path from its promise") {
    test::temp_dir dir;
    in_directory here(dir.path);
    make_file("a", "abc");
    SECTION("stat") {
        scrubbed<unix_::stat_op> storage;
        auto p = storage.convert([] { return unix_::stat("a"); });
        REQUIRE(main::run(p).size == 3);
    }
    SECTION("openfile") {
        scrubbed<unix_::open_op> storage;
        auto p = storage.convert([] { return unix_::openfile("a", O_RDONLY); });
        REQUIRE(main::run(unix_::fstat(main::run(p))).size == 3);
    }
    SECTION("rename") {
        scrubbed<unix_::path_op> storage;
        auto p = storage.convert([] { return unix_::rename("a", "b"); });
        main::run(p);
        REQUIRE(main::run(unix_::file_exists("b")));
        REQUIRE_FALSE(main::run(unix_::file_exists("a")));
    }
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a stat converted after it finished gives its stats") {
    test::temp_dir dir;
    make_file((dir / "a").c_str(), "abcd");
    std::optional<promise<unix_::stats>> p;
    {
        auto op = unix_::stat(dir / "a");
        test::settle_idle();  // done, unawaited
        p.emplace(std::move(op));
    }
    REQUIRE(!p->is_pending());
    REQUIRE(main::run(*p).size == 4);
}

TEST_CASE("a recvfrom converted to a promise gets its datagram and sender, wherever it was") {
    auto a_b_ = udp_pair();
    auto& a = a_b_.first;
    auto& b = a_b_.second;
    char buf[8] = {};
    std::optional<promise<std::pair<std::size_t, unix_::sockaddr>>> p;
    SECTION("converted at once") {
        p.emplace(unix_::recvfrom(b, buf, sizeof buf));
        main::run(unix_::sendto(a, "abc", 3, unix_::getsockname(b)));
    }
    SECTION("converted after the kernel took it") {
        {
            auto op = unix_::recvfrom(b, buf, sizeof buf);
            main::run(lwt::pause());  // waiting in the kernel, or in the engine
            p.emplace(std::move(op));
        }
        main::run(unix_::sendto(a, "abc", 3, unix_::getsockname(b)));
    }
    SECTION("converted after the datagram came, before the loop saw it") {
        {
            auto op = unix_::recvfrom(b, buf, sizeof buf);
            main::run(lwt::pause());
            const auto to = unix_::getsockname(b);
            REQUIRE(::sendto(a.fd(), "abc", 3, 0, to.raw(), to.size()) == 3);
            p.emplace(std::move(op));
        }
    }
    auto n_from_ = main::run(*p);
    REQUIRE(n_from_.first == 3);
    REQUIRE(n_from_.second == unix_::getsockname(a));
    REQUIRE(std::string(buf) == "abc");
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a sendto converted to a promise sends once, to its own address") {
    auto a_b_ = udp_pair();
    auto& a = a_b_.first;
    auto& b = a_b_.second;
    scrubbed<unix_::sendto_op> storage;
    auto p = storage.convert([&] { return unix_::sendto(a, "xyz", 3, unix_::getsockname(b)); });
    REQUIRE(main::run(p) == 3);
    char buf[8] = {};
    auto n_from_ = main::run(unix_::recvfrom(b, buf, sizeof buf));
    REQUIRE(n_from_.first == 3);
    REQUIRE(std::string(buf) == "xyz");
    REQUIRE(::recv(b.fd(), buf, sizeof buf, MSG_DONTWAIT) == -1);  // exactly one datagram
}

TEST_CASE("an opened descriptor nobody takes is closed: dropped, cancelled late, or given twice") {
    test::temp_dir dir;
    const std::string f = dir / "f";
    make_file(f.c_str(), "x");
    int before = test::open_fds();
    { auto dropped = unix_::openfile(f, O_RDONLY); }
    test::settle_idle();
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == before);
    {
        auto op = unix_::openfile(f, O_RDONLY);
        test::settle_idle();  // opened, unawaited
        REQUIRE(engine::live_operations() == 0);
        lwt::cancel(op);  // too late: the descriptor is closed, not given
        REQUIRE_THROWS_AS(main::run(op), lwt::canceled);
    }
    REQUIRE(test::open_fds() == before);
    {
        auto op = unix_::openfile(f, O_RDONLY);
        REQUIRE(main::run(op).is_open());
        REQUIRE_THROWS_AS(main::run(op), std::logic_error);  // the descriptor was given once
    }
    REQUIRE(test::open_fds() == before);
}

TEST_CASE("closing a closed descriptor succeeds at once") {
    unix_::file_descr closed;
    auto op = closed.close();
    REQUIRE(engine::live_operations() == 0);
    main::run(op);
    lwt::promise<void> p = closed.close();
    REQUIRE(p.state() == lwt::state::fulfilled);
}

TEST_CASE("closing an open descriptor releases it") {
    auto r_w_ = unix_::pipe();
    int before = test::open_fds();
    main::run(r_w_.first.close());
    REQUIRE_FALSE(r_w_.first.is_open());
    REQUIRE(test::open_fds() == before - 1);
}

TEST_CASE("file_exists is false where the path leads nowhere") {
    test::temp_dir dir;
    make_file((dir / "f").c_str(), "x");
    REQUIRE(main::run(unix_::file_exists(dir / "f")));
    REQUIRE_FALSE(main::run(unix_::file_exists(dir / "missing")));
    REQUIRE_FALSE(main::run(unix_::file_exists(dir / "f/under-a-file")));  // ENOTDIR
}

TEST_CASE("file_exists throws on other failures: a name too long") {
    test::temp_dir dir;
    try {
        main::run(unix_::file_exists(dir / std::string(300, 'n')));
        FAIL("a name too long must throw");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == ENAMETOOLONG);
        REQUIRE(e.call() == "file_exists");
    }
}

TEST_CASE("join and both take operations among their promises") {
    test::temp_dir dir;
    make_file((dir / "x").c_str(), "12345");
    make_file((dir / "y").c_str(), "");
    auto st_there_ = main::run(lwt::both(unix_::stat(dir / "x"), unix_::file_exists(dir / "y")));
    REQUIRE(st_there_.first.size == 5);
    REQUIRE(st_there_.second);
    main::run(lwt::join(unix_::unlink(dir / "x"), unix_::unlink(dir / "y")));
    REQUIRE_FALSE(main::run(unix_::file_exists(dir / "x")));
    REQUIRE_FALSE(main::run(unix_::file_exists(dir / "y")));
}

TEST_CASE("pick and choose take operations among their promises; pick cancels the losing one") {
    auto a_b_ = tcp_pair();
    char buf[4] = {};
    // pick cancels the losing recv: nothing is left in flight, and the byte sent later
    // goes to the next read.
    REQUIRE(main::run(lwt::pick(unix_::recv(a_b_.second, buf, 1), lwt::return_(std::size_t{7}))) == 7);
    REQUIRE(engine::live_operations() == 0);
    auto later = unix_::recv(a_b_.second, buf, 1);
    REQUIRE(main::run(lwt::choose(unix_::send(a_b_.first, "z", 1), std::move(later))) == 1);  // (both are 1)
    test::settle_idle();  // the recv choose left alone gets the byte
    REQUIRE(buf[0] == 'z');
}

TEST_CASE("an fstat whose descriptor is closed never reports the file that reuses the number") {
    // The stat either ran before the close (the old file's size) or fails with EBADF. (An
    // io_uring statx finds its descriptor by number when a worker thread runs it; fstat
    // runs at the call.)
    test::temp_dir dir;
    make_file((dir / "old").c_str(), "abc");
    make_file((dir / "new").c_str(), "abcdefg");
    for (int i = 0; i < 200; ++i) {
        auto f = main::run(unix_::openfile(dir / "old", O_RDONLY));
        const int number = f.fd();
        auto st = unix_::fstat(f);
        main::run(f.close());
        auto g = main::run(unix_::openfile(dir / "new", O_RDONLY));
        REQUIRE(g.fd() == number);
        auto look = [&]() -> promise<std::int64_t> {
            try {
                co_return (co_await st).size;
            } catch (const unix_::unix_error& e) {
                if (e.error() != EBADF) throw;
            }
            co_return -1;
        };
        const std::int64_t size = main::run(look);
        REQUIRE((size == 3 || size == -1));
    }
}
