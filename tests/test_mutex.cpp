// <lwt/mutex.hpp>: Lwt_mutex.
#include <lwt/main.hpp>
#include <lwt/mutex.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

TEST_CASE("a free mutex is locked at once") {
    mutex m;
    REQUIRE_FALSE(m.is_locked());
    auto l = m.lock();
    REQUIRE(l.state() == lwt::state::fulfilled);
    REQUIRE(m.is_locked());
    m.unlock();
    REQUIRE_FALSE(m.is_locked());
}

TEST_CASE("unlocking an unlocked mutex does nothing") {
    mutex m;
    m.unlock();
    REQUIRE_FALSE(m.is_locked());
    REQUIRE(m.lock().state() == lwt::state::fulfilled);  // still a working mutex
    REQUIRE(m.is_locked());
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
