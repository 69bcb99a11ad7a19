// <lwt/mutex.hpp>, <lwt/condition.hpp>, <lwt/mvar.hpp>: Lwt_mutex, Lwt_condition, Lwt_mvar.
#include <lwt/condition.hpp>
#include <lwt/main.hpp>
#include <lwt/mutex.hpp>
#include <lwt/mvar.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

// ---------------------------------------------------------------------------------------
// mutex

TEST_CASE("a free mutex is locked at once; unlocking an unlocked mutex does nothing") {
    mutex m;
    REQUIRE_FALSE(m.is_locked());
    auto l = m.lock();
    REQUIRE(l.state() == lwt::state::fulfilled);
    REQUIRE(m.is_locked());
    m.unlock();
    REQUIRE_FALSE(m.is_locked());
    m.unlock();
    REQUIRE_FALSE(m.is_locked());
}

TEST_CASE("unlock hands the mutex to the oldest waiter, FIFO, and it stays locked") {
    mutex m;
    main::run(m.lock());
    std::vector<int> order;
    auto waiter = [&](int id) -> promise<void> {
        co_await m.lock();
        order.push_back(id);
    };
    auto a = waiter(1);
    auto b = waiter(2);
    auto c = waiter(3);
    REQUIRE(order.empty());
    REQUIRE_FALSE(m.is_empty());
    m.unlock();
    REQUIRE(order == std::vector<int>{1});
    REQUIRE(m.is_locked());  // handed over, never free in between
    m.unlock();
    m.unlock();
    REQUIRE(order == std::vector<int>{1, 2, 3});
    REQUIRE(m.is_locked());
    REQUIRE(m.is_empty());
    m.unlock();
    REQUIRE_FALSE(m.is_locked());
}

TEST_CASE("cancelling a queued lock removes it from the queue") {
    mutex m;
    main::run(m.lock());
    auto a = m.lock();
    auto b = m.lock();
    cancel(a);
    REQUIRE(test::is_canceled(a));
    m.unlock();
    REQUIRE(b.state() == lwt::state::fulfilled);  // the next in line got it, not the cancelled one
    REQUIRE(m.is_empty());
}

TEST_CASE("with_lock releases the mutex when f succeeds, fails or is cancelled") {
    mutex m;
    REQUIRE(main::run(m.with_lock([&]() -> promise<int> {
        REQUIRE(m.is_locked());
        co_return 7;
    })) == 7);
    REQUIRE_FALSE(m.is_locked());
    REQUIRE_THROWS_AS(main::run(m.with_lock([]() -> promise<int> { throw std::runtime_error("f failed"); })),
                      std::runtime_error);
    REQUIRE_FALSE(m.is_locked());
    auto t = task<void>();
    auto held = m.with_lock([&] { return t.first; });
    REQUIRE(m.is_locked());
    cancel(held);
    REQUIRE(test::is_canceled(held));
    REQUIRE_FALSE(m.is_locked());
}

TEST_CASE("with_lock cancelled while waiting never runs f and unlocks nothing") {
    mutex m;
    main::run(m.lock());
    bool ran = false;
    auto w = m.with_lock([&]() -> promise<void> {
        ran = true;
        co_return;
    });
    cancel(w);
    REQUIRE(test::is_canceled(w));
    REQUIRE(m.is_locked());  // still ours
    m.unlock();
    REQUIRE_FALSE(ran);
    REQUIRE_FALSE(m.is_locked());
}

TEST_CASE("a mutex serialises 100,000 critical sections across concurrent coroutines") {
    mutex m;
    int inside = 0, max_inside = 0, total = 0;
    auto worker = [&]() -> promise<void> {
        for (int i = 0; i < 1000; ++i) {
            co_await m.with_lock([&]() -> promise<void> {
                max_inside = std::max(max_inside, ++inside);
                co_await lwt::pause();
                ++total;
                --inside;
            });
        }
    };
    std::vector<promise<void>> ws;
    for (int i = 0; i < 100; ++i) ws.push_back(worker());
    main::run(join(std::move(ws)));
    REQUIRE(total == 100'000);
    REQUIRE(max_inside == 1);
}

// ---------------------------------------------------------------------------------------
// condition

TEST_CASE("signal wakes the oldest waiter and is lost when nobody waits") {
    condition<int> c;
    c.signal(1);  // lost
    auto a = c.wait();
    auto b = c.wait();
    c.signal(2);
    REQUIRE(a.value() == 2);
    REQUIRE(b.is_pending());
    c.signal(3);
    REQUIRE(b.value() == 3);
}

TEST_CASE("broadcast wakes every waiter; broadcast_exn rejects them all") {
    condition<std::string> c;
    auto a = c.wait();
    auto b = c.wait();
    c.broadcast("all");
    REQUIRE(a.value() == "all");
    REQUIRE(b.value() == "all");
    auto x = c.wait();
    auto y = c.wait();
    c.broadcast_exn(std::out_of_range("bad"));
    REQUIRE_THROWS_AS(x.value(), std::out_of_range);
    REQUIRE_THROWS_AS(y.value(), std::out_of_range);
    condition<void> v;
    auto z = v.wait();
    v.signal();
    REQUIRE(z.state() == lwt::state::fulfilled);
}

TEST_CASE("wait(m) unlocks the mutex while waiting and locks it again before resuming") {
    mutex m;
    condition<int> c;
    main::run(m.lock());
    bool locked_after = false;
    auto waiter = [&]() -> promise<int> {
        int v = co_await c.wait(m);
        locked_after = m.is_locked();
        co_return v;
    };
    auto w = waiter();
    REQUIRE_FALSE(m.is_locked());  // released while waiting
    main::run(m.lock());           // someone else takes it
    c.signal(5);
    REQUIRE(w.is_pending());  // woken, but waiting for the mutex
    m.unlock();
    REQUIRE(w.value() == 5);
    REQUIRE(locked_after);
}

TEST_CASE("a cancelled wait(m) still locks the mutex again before rejecting") {
    mutex m;
    condition<void> c;
    main::run(m.lock());
    auto w = c.wait(m);
    REQUIRE_FALSE(m.is_locked());
    cancel(w);
    REQUIRE(test::is_canceled(w));
    REQUIRE(m.is_locked());
}

TEST_CASE("a cancelled wait takes no signal") {
    condition<int> c;
    auto a = c.wait();
    auto b = c.wait();
    cancel(a);
    c.signal(1);
    REQUIRE(b.value() == 1);
}

// ---------------------------------------------------------------------------------------
// mvar

TEST_CASE("an mvar hands values over FIFO on both sides") {
    mvar<int> mv;
    REQUIRE(mv.is_empty());
    REQUIRE(mv.put(1).state() == lwt::state::fulfilled);
    REQUIRE_FALSE(mv.is_empty());
    auto p2 = mv.put(2);
    auto p3 = mv.put(3);
    REQUIRE(p2.is_pending());
    REQUIRE(mv.take().value() == 1);
    REQUIRE(p2.state() == lwt::state::fulfilled);  // the oldest put got in
    REQUIRE(mv.take().value() == 2);
    REQUIRE(mv.take().value() == 3);
    REQUIRE(mv.is_empty());
    auto t1 = mv.take();
    auto t2 = mv.take();
    main::run(mv.put(10));
    main::run(mv.put(20));
    REQUIRE(t1.value() == 10);
    REQUIRE(t2.value() == 20);
    REQUIRE(mv.is_empty());
}

TEST_CASE("take_available empties a full mvar without waiting") {
    mvar<std::string> mv("x");
    REQUIRE(mv.take_available() == std::optional<std::string>("x"));
    REQUIRE_FALSE(mv.take_available().has_value());
}

TEST_CASE("cancelled puts and takes neither deposit nor take a value") {
    mvar<int> mv(0);
    auto p = mv.put(1);
    cancel(p);
    REQUIRE(test::is_canceled(p));
    REQUIRE(mv.take().value() == 0);
    REQUIRE(mv.is_empty());  // the cancelled put did not get in
    auto t = mv.take();
    cancel(t);
    main::run(mv.put(5));
    REQUIRE(mv.take_available() == std::optional<int>(5));
}

TEST_CASE("100,000 values pass through an mvar between a producer and a consumer") {
    mvar<int> mv;
    long sum = 0;
    auto producer = [&]() -> promise<void> {
        for (int i = 1; i <= 100'000; ++i) co_await mv.put(i);
    };
    auto consumer = [&]() -> promise<void> {
        for (int i = 1; i <= 100'000; ++i) sum += co_await mv.take();
    };
    auto c = consumer();
    auto p = producer();
    main::run(join(p, c));
    REQUIRE(sum == 100'000L * 100'001 / 2);
}
