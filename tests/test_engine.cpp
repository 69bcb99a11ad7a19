// <lwt/engine.hpp> and the engine behind every I/O call: selection, timers, in-flight
// operations, cancellation of I/O (rule 7), teardown.
#include <lwt/bind.hpp>
#include <lwt/detail/engine.hpp>
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

using namespace lwt;
using namespace std::chrono_literals;

using test::tcp_pair;

TEST_CASE("engine::id names the engine LWT_ENGINE asked for") {
    std::string id(engine::id());
    REQUIRE((id == "uring" || id == "epoll"));
    if (const char* want = std::getenv("LWT_EXPECT_ENGINE"))
        REQUIRE(id == want);
    else if (const char* req = std::getenv("LWT_ENGINE"))
        REQUIRE(id == req);
    else
        test::skip("neither LWT_ENGINE nor LWT_EXPECT_ENGINE is set: no engine was asked for");
}

TEST_CASE("sleep resolves no earlier than its duration after the call") {
    for (double d : {0.0, 0.001, 0.005, 0.02}) {
        auto t0 = std::chrono::steady_clock::now();
        main::run(unix_::sleep(d));
        auto elapsed = std::chrono::steady_clock::now() - t0;
        REQUIRE(elapsed >= std::chrono::duration<double>(d));
    }
    auto t0 = std::chrono::steady_clock::now();
    main::run(unix_::sleep(3ms));
    REQUIRE(std::chrono::steady_clock::now() - t0 >= 3ms);
}

TEST_CASE("sleeps fire in deadline order") {
    std::vector<int> order;
    auto s = [&](double d, int id) -> promise<void> {
        co_await unix_::sleep(d);
        order.push_back(id);
    };
    auto a = s(0.03, 3);
    auto b = s(0.01, 1);
    auto c = s(0.02, 2);
    main::run(join(a, b, c));
    REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a bad duration is std::invalid_argument at the call") {
    REQUIRE_THROWS_AS(unix_::sleep(-1.0), std::invalid_argument);
    REQUIRE_THROWS_AS(unix_::sleep(std::nan("")), std::invalid_argument);
    REQUIRE_THROWS_AS(unix_::timeout(-0.5), std::invalid_argument);
}

TEST_CASE("cancelling a sleep rejects it and removes its timer") {
    auto s = unix_::sleep(10.0);
    REQUIRE(engine::pending_timers() == 1);
    cancel(s);
    REQUIRE(test::is_canceled(s));
    REQUIRE(engine::pending_timers() == 0);
    REQUIRE_THROWS_AS(main::run(s), canceled);
}

TEST_CASE("timeout rejects with timeout_error") {
    auto t = unix_::timeout(0.001);
    REQUIRE_THROWS_AS(main::run(t), unix_::timeout_error);
}

TEST_CASE("with_timeout picks the first to settle, and leaves no timer behind") {
    auto fast = unix_::with_timeout(1.0, [] { return lwt::return_(7); });
    REQUIRE(main::run(fast) == 7);
    REQUIRE(engine::pending_timers() == 0);  // the loser's timer is gone
    auto slow = unix_::with_timeout(5ms, [] { return lwt::bind(unix_::sleep(10.0), [] { return lwt::return_(1); }); });
    REQUIRE_THROWS_AS(main::run(slow), unix_::timeout_error);
    REQUIRE(engine::pending_timers() == 0);
}

TEST_CASE("with_timeout rejects with what f throws at the call") {
    auto throws = unix_::with_timeout(1.0, []() -> promise<int> { throw std::out_of_range("sync"); });
    REQUIRE_THROWS_AS(main::run(throws), std::out_of_range);
}

TEST_CASE("a million pending sleeps cost memory, not system calls or loop iterations") {
    std::mt19937 rng(42);
    std::uniform_int_distribution<int> ms(0, 50);
    std::vector<promise<void>> all;
    all.reserve(1'000'000);
    for (int i = 0; i < 1'000'000; ++i) all.push_back(unix_::sleep(std::chrono::milliseconds(ms(rng))));
    REQUIRE(engine::pending_timers() == 1'000'000);
    int iterations = 0;
    auto h = main::enter_iter_hooks().add_last([&] { ++iterations; });
    main::run(join(std::move(all)));
    main::enter_iter_hooks().remove(h);
    REQUIRE(engine::pending_timers() == 0);
    // One kernel wait per iteration, and each iteration fires every expired timer.
    REQUIRE(iterations < 20'000);
}

TEST_CASE("with_timeout on a silent socket rejects with timeout_error and leaves no operation behind") {
    auto a_b_ = tcp_pair();  // a: the peer, kept open
    auto& b = a_b_.second;
    char buf[16];
    auto r = unix_::with_timeout(0.05, [&] { return unix_::recv(b, buf, sizeof buf); });
    REQUIRE_THROWS_AS(main::run(r), unix_::timeout_error);
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(engine::pending_timers() == 0);
}

TEST_CASE("cancelling a pending read completes it at once with lwt::canceled") {
    auto a_b_ = tcp_pair();
    auto& a = a_b_.first;
    auto& b = a_b_.second;
    char buf[16];
    lwt::promise r = unix_::recv(b, buf, sizeof buf);
    REQUIRE(r.is_pending());
    REQUIRE(engine::live_operations() == 1);
    cancel(r);
    REQUIRE(test::is_canceled(r));
    REQUIRE(engine::live_operations() == 0);
    // The socket still works afterwards.
    main::run(unix_::send(a, "x", 1));
    REQUIRE(main::run(unix_::recv(b, buf, sizeof buf)) == 1);
}

// [no_faults]: not in the faults suite: it asserts that one read gives the 4 bytes sent.
TEST_CASE("a cancelled read whose bytes the kernel already delivered returns them", "[no_faults]") {
    auto a_b_ = tcp_pair();
    auto& a = a_b_.first;
    auto& b = a_b_.second;
    main::run(unix_::send(a, "data", 4));
    char buf[16] = {};
    lwt::promise r = unix_::recv(b, buf, sizeof buf);
    cancel(r);  // io_uring: the read reaches the kernel now and completes with the bytes
    REQUIRE(r.state() == lwt::state::fulfilled);
    REQUIRE(r.value() == 4);
    REQUIRE(std::string(buf, 4) == "data");
}

TEST_CASE("a cancelled accept that succeeded closes the new socket: nothing leaks") {
    // Only io_uring's one-shot accepts can succeed in the kernel once cancelled: the cancel
    // hands the accept to the kernel, which takes the queued connection. On epoll the accept
    // finishes at the call, before the cancel; a multishot accept's waiter is dropped before
    // any accept reaches the kernel. Those runs check what they can, then skip.
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(c, unix_::getsockname(srv)));  // queued in the backlog
    int before = test::open_fds();
    bool accepted_before_cancel = false;
    {
        lwt::promise acc = unix_::accept(srv);
        cancel(acc);
        if (acc.state() == lwt::state::fulfilled) {
            // Accepted before the cancel arrived: the caller owns the socket.
            accepted_before_cancel = true;
            REQUIRE(acc.value().first.is_open());
            REQUIRE(acc.value().second == unix_::getsockname(c));
        } else {
            REQUIRE(test::is_canceled(acc));
            REQUIRE(test::open_fds() == before);
        }
    }
    REQUIRE(test::open_fds() == before);
    REQUIRE(engine::live_operations() == 0);
    if (accepted_before_cancel) {
        test::skip("the accept finished at the call, before its cancel (" + std::string(engine::id()) +
                   "): no accept succeeds after its cancel here");
        return;
    }
    // Still in the backlog: the cancel came before any accept reached the kernel.
    if (int fd = ::accept4(srv.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC); fd >= 0) {
        ::close(fd);
        test::skip("the accept was dropped before it reached the kernel (" + std::string(engine::id()) +
                   (test::multishot_accepts() ? ", multishot accepts" : "") + "): none succeeded after its cancel");
        return;
    }
    // The kernel accepted it after the cancel, and the runtime closed it: the client sees
    // the end of the stream.
    pollfd pfd{c.fd(), POLLIN | POLLRDHUP, 0};
    REQUIRE(::poll(&pfd, 1, 5000) == 1);
    char b;
    REQUIRE(::recv(c.fd(), &b, 1, MSG_DONTWAIT) == 0);
}

TEST_CASE("pick of a read and a sleep cancels the read in flight before the pick's waiters run") {
    auto a_b_ = tcp_pair();  // a: the peer, kept open
    auto& b = a_b_.second;
    char buf[8];
    auto rd = lwt::map([](std::size_t n) { return static_cast<int>(n); }, lwt::promise(unix_::recv(b, buf, sizeof buf)));
    auto sl = lwt::map([] { return -1; }, unix_::sleep(0.01));
    std::size_t live_when_waiter_ran = 99;
    auto p = pick(rd, sl);
    on_success(p, [&](int) { live_when_waiter_ran = engine::live_operations(); });
    REQUIRE(main::run(p) == -1);
    REQUIRE(live_when_waiter_ran == 0);
    REQUIRE(test::is_canceled(rd));
}

namespace {

// A readiness wait on fd for the poll mask `events`: the ready mask.
promise<int> wait_ready(int fd, short events) {
    detail::io_awaiter a;
    a.op.kind = detail::io_kind::poll;
    a.op.fd = fd;
    a.op.flags = static_cast<std::uint32_t>(events);
    auto done = co_await a;
    co_return done.res;
}

}  // namespace

TEST_CASE("a readiness wait for both directions completes when the descriptor becomes writable alone") {
    auto a_b_ = tcp_pair();
    auto& a = a_b_.first;
    auto& b = a_b_.second;
    // Fill b's path to a until b is not writable; nothing is there for b to read.
    std::string chunk(65536, 'x');
    while (::send(b.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT) > 0) {}
    pollfd now{b.fd(), POLLIN | POLLOUT, 0};
    REQUIRE(::poll(&now, 1, 0) == 0);
    auto ready = wait_ready(b.fd(), POLLIN | POLLOUT);
    REQUIRE(ready.is_pending());
    // The peer drains everything: b becomes writable, and still has nothing to read.
    std::string sink(1 << 20, '\0');
    auto drained = [&] {
        while (::recv(a.fd(), sink.data(), sink.size(), MSG_DONTWAIT) > 0) {}
        return !ready.is_pending();
    };
    test::settle(drained, "the wait for POLLIN|POLLOUT to see writability");
    REQUIRE((ready.value() & POLLOUT) != 0);
    REQUIRE((ready.value() & POLLIN) == 0);
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("closing a descriptor fails the operations pending on it with EBADF") {
    auto a_b_ = tcp_pair();  // a: the peer, kept open
    auto& b = a_b_.second;
    char buf[8];
    auto r = unix_::recv(b, buf, sizeof buf);
    main::run(b.close());
    REQUIRE_FALSE(b.is_open());
    try {
        main::run(std::move(r));
        FAIL("the read should have failed");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.error() == EBADF);
        REQUIRE(e.call() == "recv");
    }
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("destroying an engine with work pending cancels it and frees every frame") {
    // A thread starts I/O and a sleep, then exits without waiting: its engine's teardown
    // cancels them (the coroutines see the cancellation and finish), waits for the kernel's
    // completions and frees everything (ASan/LSan check the rest).
    std::string seen;
    unix_::file_descr keep_a, keep_b, keep_srv;  // outlive the thread: the read and the accept
                                                  // are really in flight
    std::thread([&] {
        auto a_b_ = tcp_pair();
        auto& a = a_b_.first;
        auto& b = a_b_.second;
        static char buf[16];
        auto reader = [](int fd, std::string& out) -> promise<void> {
            unix_::file_descr view(fd);
            try {
                co_await unix_::recv(view, buf, sizeof buf);
                out += "read finished;";
            } catch (const canceled&) {
                out += "read cancelled;";
            } catch (const unix_::unix_error& e) {
                out += std::string("read failed: ") + e.what() + ";";
            }
            out += "live " + std::to_string(engine::live_operations()) + ";";
            view.release();
        };
        auto acceptor = [](const unix_::file_descr& l, std::string& out) -> promise<void> {
            try {
                co_await unix_::accept(l);
                out += "accept finished;";
            } catch (const canceled&) {
                out += "accept cancelled;";
            }
            out += "live " + std::to_string(engine::live_operations()) + ";";
        };
        auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
        unix_::listen(srv);
        keep_srv = std::move(srv);
        auto sleeper = [](std::string& out) -> promise<void> {
            try {
                co_await unix_::sleep(60.0);
            } catch (const canceled&) {
                out += "sleep cancelled;";
            }
        };
        async([&] { return reader(b.fd(), seen); });
        async([&] { return sleeper(seen); });
        async([&] { return acceptor(keep_srv, seen); });
        REQUIRE(engine::live_operations() == 2);
        REQUIRE(engine::pending_timers() == 1);
        keep_a = std::move(a);
        keep_b = std::move(b);
    }).join();
    REQUIRE(seen.find("read cancelled;") != std::string::npos);
    REQUIRE(seen.find("sleep cancelled;") != std::string::npos);
    REQUIRE(seen.find("accept cancelled;") != std::string::npos);
    // Each cancelled operation counted itself out: the last one to resume saw none left.
    auto last = seen.substr(seen.rfind("live "));
    REQUIRE(last.substr(0, last.find(';')) == "live 0");
}

TEST_CASE("a coroutine waiting on a promise nobody can resolve any more is cancelled at thread exit") {
    std::string seen;
    std::thread([&] {
        auto waiter = [](promise<int> p, std::string& out) -> promise<void> {
            try {
                co_await p;
                out = "resolved";
            } catch (const canceled&) {
                out = "cancelled at thread exit";
            }
        };
        auto w = wait<int>();
        async([&, p = w.first] { return waiter(p, seen); });
        // The resolver goes away: Lwt keeps the promise pending, and so do we...
    }).join();
    // ...until the thread ends, when the coroutine unwinds instead of leaking.
    REQUIRE(seen == "cancelled at thread exit");
}

TEST_CASE("a wait() promise whose resolver is gone stays pending (as in Lwt)") {
    auto p = wait<int>().first;
    REQUIRE(p.is_pending());
    REQUIRE_THROWS_AS(main::run(p), std::logic_error);
}

TEST_CASE("a waitpid started while the previous child's exit is served waits for its own child") {
    // The first child's exit completes the poll of its pidfd; what runs then reaps it, closes
    // that pidfd and waits for a second child, whose pidfd takes the same number. The events
    // being served are the first child's: the second waitpid waits for its own.
    auto spawn = [](int ms) {
        pid_t p = ::fork();
        if (p == 0) {
            ::usleep(static_cast<useconds_t>(ms) * 1000);
            ::_exit(0);
        }
        return p;
    };
    bool pending_meanwhile = false;
    main::run([&]() -> promise<void> {
        co_await unix_::waitpid(spawn(50));
        promise<std::pair<pid_t, int>> second = unix_::waitpid(spawn(300));
        co_await unix_::sleep(0.01);
        pending_meanwhile = second.is_pending();
        co_await second;
    });
    REQUIRE(pending_meanwhile);
}
