// Readiness on any descriptor (<lwt/unix/ready.hpp>, Lwt_unix.wait_read / wait_write /
// readable / writable), on both engines (tests/meson.build). Most cases use descriptors made
// with plain system calls, as a C library's would be: lwt++ neither owns nor prepared them.
#include <lwt/bind.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

using namespace lwt;
using namespace std::chrono_literals;

namespace {

// A pair of descriptors made outside lwt++ (blocking, as a library may leave them), closed at
// the end of the scope unless the test closed them first (-1).
struct raw_pair {
    int a = -1, b = -1;
    static raw_pair pipe() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
        return {fds[0], fds[1]};
    }
    static raw_pair sockets() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
        return {fds[0], fds[1]};
    }
    void close_both() {
        if (a >= 0) ::close(a);
        if (b >= 0) ::close(b);
        a = b = -1;
    }
    ~raw_pair() { close_both(); }
};

void put(int fd, const std::string& s) { REQUIRE(::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size())); }

// Runs the loop for `d`, so that a wait that should not complete has every chance to.
void run_for(std::chrono::milliseconds d) { main::run(unix_::sleep(d)); }

// A descriptor number that is not open.
int closed_number() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::close(fds[0]);
    ::close(fds[1]);
    return fds[0];
}

}  // namespace

TEST_CASE("wait_read completes once bytes arrive, and leaves them unread") {
    auto p = raw_pair::pipe();
    promise<void> w = unix_::wait_read(p.a);
    run_for(20ms);
    REQUIRE(w.is_pending());
    put(p.b, "abc");
    main::run(w);
    char buf[8];
    REQUIRE(::read(p.a, buf, sizeof buf) == 3);  // (a blocking read: it must not block)
    REQUIRE(std::string(buf, 3) == "abc");
}

TEST_CASE("wait_read on a descriptor with bytes waiting completes at once") {
    auto p = raw_pair::sockets();
    put(p.b, "x");
    main::run([&]() -> promise<void> { co_await unix_::wait_read(p.a); });
    REQUIRE(unix_::readable(p.a));
}

TEST_CASE("wait_write on a full pipe completes once the reader makes room") {
    auto p = raw_pair::pipe();
    REQUIRE(::fcntl(p.b, F_SETFL, O_NONBLOCK) == 0);  // (to fill it without blocking)
    char block[4096] = {};
    while (::write(p.b, block, sizeof block) > 0) {
    }
    REQUIRE(errno == EAGAIN);
    REQUIRE_FALSE(unix_::writable(p.b));
    promise<void> w = unix_::wait_write(p.b);
    run_for(20ms);
    REQUIRE(w.is_pending());
    for (int i = 0; i < 4; ++i) REQUIRE(::read(p.a, block, sizeof block) == sizeof block);
    main::run(w);
    REQUIRE(unix_::writable(p.b));
}

TEST_CASE("a reader and a writer wait on one socket at once, each for its own event") {
    auto p = raw_pair::sockets();
    promise<void> r = unix_::wait_read(p.a);
    promise<void> w = unix_::wait_write(p.a);
    run_for(10ms);
    REQUIRE(w.state() == lwt::state::fulfilled);  // room to write: at once
    REQUIRE(r.is_pending());                     // nothing to read yet
    put(p.b, "x");
    main::run(r);
}

TEST_CASE("two waits for reading on one descriptor both complete") {
    auto p = raw_pair::sockets();
    promise<void> r1 = unix_::wait_read(p.a);
    promise<void> r2 = unix_::wait_read(p.a);
    run_for(10ms);
    put(p.b, "x");
    main::run(lwt::join({r1, r2}));
}

TEST_CASE("wait_read completes when the peer hangs up, and the read then sees the end") {
    auto p = raw_pair::sockets();
    promise<void> r = unix_::wait_read(p.a);
    run_for(10ms);
    REQUIRE(r.is_pending());
    ::close(p.b);
    p.b = -1;
    main::run(r);
    char c;
    REQUIRE(::read(p.a, &c, 1) == 0);
}

TEST_CASE("cancelling a wait leaves nothing in flight, and the descriptor can be waited on again") {
    auto p = raw_pair::sockets();
    promise<void> w = unix_::wait_read(p.a);
    run_for(10ms);
    lwt::cancel(w);
    REQUIRE(test::is_canceled(w));
    REQUIRE(engine::live_operations() == 0);
    promise<void> again = unix_::wait_read(p.a);
    run_for(10ms);
    REQUIRE(again.is_pending());
    put(p.b, "x");
    main::run(again);
}

TEST_CASE("with_timeout cancels a wait that nothing completes") {
    auto p = raw_pair::pipe();
    auto r = main::run([&]() -> promise<std::string> {
        try {
            co_await unix_::with_timeout(0.02, [&]() -> promise<void> { return unix_::wait_read(p.a); });
            co_return "completed";
        } catch (const unix_::timeout_error&) {
            co_return "timed out";
        }
    });
    REQUIRE(r == "timed out");
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a wait on a descriptor that is not open fails with unix_error EBADF naming the call") {
    const int fd = GENERATE(-1, closed_number());
    CAPTURE(fd);
    for (bool reading : {true, false}) {
        promise<void> w = reading ? promise<void>(unix_::wait_read(fd)) : promise<void>(unix_::wait_write(fd));
        const unix_::unix_error e = test::unix_failure(w);
        CHECK(e.error() == EBADF);
        CHECK(e.call() == (reading ? "wait_read" : "wait_write"));
        CHECK(e.argument() == std::to_string(fd));
    }
    REQUIRE_THROWS_AS(unix_::readable(fd), unix_::unix_error);
    REQUIRE_THROWS_AS(unix_::writable(fd), unix_::unix_error);
}

TEST_CASE("a number its owner closed and gave to another file is waited on afresh") {
    // The first socket is waited on (on epoll it is registered then), then closed behind the
    // loop's back, as a library closes its sockets; the same number then names a new socket.
    auto first = raw_pair::sockets();
    const int number = first.a;
    {
        promise<void> w = unix_::wait_read(number);
        run_for(10ms);
        put(first.b, "x");
        main::run(w);
    }
    first.close_both();
    auto second = raw_pair::sockets();
    if (second.a != number) {  // (the lowest free number: usually it already is)
        REQUIRE(::dup3(second.a, number, O_CLOEXEC) == number);
        ::close(second.a);
        second.a = number;
    }
    auto r = main::run([&]() -> promise<bool> {
        promise<void> w = unix_::wait_read(number);
        co_await unix_::sleep(0.01);
        put(second.b, "y");
        auto done = lwt::pick({lwt::map([] { return true; }, w), lwt::map([] { return false; }, unix_::sleep(5.0))});
        co_return co_await done;
    });
    REQUIRE(r);  // (false: the wait never completed)
}

TEST_CASE("waiting leaves the descriptor's mode as it was") {
    auto p = raw_pair::sockets();
    promise<void> w = unix_::wait_read(p.a);
    run_for(10ms);
    put(p.b, "x");
    main::run(w);
    REQUIRE((::fcntl(p.a, F_GETFL) & O_NONBLOCK) == 0);  // still blocking, as its owner made it
}

TEST_CASE("readable and writable say what the descriptor is now") {
    auto p = raw_pair::pipe();
    REQUIRE_FALSE(unix_::readable(p.a));
    REQUIRE(unix_::writable(p.b));
    put(p.b, "x");
    REQUIRE(unix_::readable(p.a));
}

TEST_CASE("the waits take lwt++'s own descriptors too") {
    auto ends = unix_::pipe();  // (not a structured binding: clang 14 cannot capture one)
    auto& r = ends.first;
    auto& w = ends.second;
    promise<void> wr = unix_::wait_read(r);
    main::run([&]() -> promise<void> { co_await unix_::wait_write(w); });
    REQUIRE(wr.is_pending());
    main::run([&]() -> promise<void> {
        co_await unix_::write(w, std::string_view("z"));
        co_await wr;
    });
    REQUIRE(unix_::readable(r));
}
