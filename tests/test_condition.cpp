// <lwt/condition.hpp>: Lwt_condition.
#include <lwt/condition.hpp>
#include <lwt/main.hpp>
#include <lwt/mutex.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

TEST_CASE("signal wakes the oldest waiter only") {
    condition<int> c;
    auto a = c.wait();
    auto b = c.wait();
    c.signal(2);
    REQUIRE(a.value() == 2);
    REQUIRE(b.is_pending());
    c.signal(3);
    REQUIRE(b.value() == 3);
}

TEST_CASE("a signal nobody waits for is lost") {
    condition<int> c;
    c.signal(1);
    auto a = c.wait();
    REQUIRE(a.is_pending());
    c.signal(2);
    REQUIRE(a.value() == 2);
}

TEST_CASE("broadcast wakes every waiter") {
    condition<std::string> c;
    auto a = c.wait();
    auto b = c.wait();
    c.broadcast("all");
    REQUIRE(a.value() == "all");
    REQUIRE(b.value() == "all");
}

TEST_CASE("broadcast_exn rejects every waiter") {
    condition<std::string> c;
    auto x = c.wait();
    auto y = c.wait();
    c.broadcast_exn(std::out_of_range("bad"));
    REQUIRE_THROWS_AS(x.value(), std::out_of_range);
    REQUIRE_THROWS_AS(y.value(), std::out_of_range);
}

TEST_CASE("a condition<void> is signalled without a value") {
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
