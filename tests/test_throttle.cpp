// <lwt/throttle.hpp>: Lwt_throttle, a rate limiter per key. On both engines (its seconds are
// the loop's timers). Each case takes a second or two: the rate is per second, as in Lwt.
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/throttle.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace lwt;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

TEST_CASE("a key gets `rate` passes at once, and the next call waits for the next second") {
    throttle<std::string> t(3, 10);
    const auto t0 = clock_type::now();
    for (int i = 0; i < 3; ++i) {
        auto w = t.wait("a");
        REQUIRE(w.state() == lwt::state::fulfilled);
        REQUIRE(w.value());
    }
    auto fourth = t.wait("a");
    REQUIRE(fourth.is_pending());
    REQUIRE(main::run(fourth));
    REQUIRE(clock_type::now() - t0 >= 1s);
}

TEST_CASE("keys are limited each on its own") {
    throttle<std::string> t(1, 10);
    REQUIRE(t.wait("a").state() == lwt::state::fulfilled);
    auto a2 = t.wait("a");
    REQUIRE(a2.is_pending());
    auto b = t.wait("b");
    REQUIRE(b.state() == lwt::state::fulfilled);
    REQUIRE(b.value());
    cancel(a2);
}

TEST_CASE("past `max` waiting calls, wait is false at once") {
    throttle<int> t(1, 2);  // (max counts the waiting calls of every key)
    REQUIRE(t.wait(7).state() == lwt::state::fulfilled);
    auto w1 = t.wait(7);
    REQUIRE(t.wait(8).state() == lwt::state::fulfilled);  // key 8's own pass
    auto w2 = t.wait(8);
    REQUIRE(w1.is_pending());
    REQUIRE(w2.is_pending());
    REQUIRE(t.waiting() == 2);
    auto refused = t.wait(7);
    REQUIRE(refused.state() == lwt::state::fulfilled);
    REQUIRE_FALSE(refused.value());
    REQUIRE(main::run(w1));
    REQUIRE(main::run(w2));
}

TEST_CASE("waiting calls are served oldest first, `rate` of them a second") {
    throttle<int> t(2, 10);
    REQUIRE(t.wait(1).state() == lwt::state::fulfilled);
    REQUIRE(t.wait(1).state() == lwt::state::fulfilled);
    const auto t0 = clock_type::now();
    std::vector<int> order;
    std::vector<clock_type::duration> at;
    auto waiter = [&](int id) -> promise<void> {
        const bool passed = co_await t.wait(1);  // (not in REQUIRE: g++ 12 and co_await in conditions)
        REQUIRE(passed);
        order.push_back(id);
        at.push_back(clock_type::now() - t0);
    };
    std::vector<promise<void>> ws;
    for (int id = 0; id < 4; ++id) ws.push_back(waiter(id));
    main::run(join(ws));
    REQUIRE(order == std::vector<int>{0, 1, 2, 3});
    REQUIRE(at[2] >= 1s);  // the second pair waits for the second pass after the first
    REQUIRE(at[3] >= at[1]);
}

TEST_CASE("a cancelled wait leaves its queue; the next one gets the pass") {
    throttle<int> t(1, 10);
    REQUIRE(t.wait(1).state() == lwt::state::fulfilled);
    auto first = t.wait(1);
    auto second = t.wait(1);
    cancel(first);
    REQUIRE(first.state() == lwt::state::rejected);
    REQUIRE(main::run(second));
}

TEST_CASE("once nobody waits, the throttle keeps no timer") {
    main::run(unix_::sleep(2.2));  // (the throttles of the cases before let theirs go)
    REQUIRE(engine::pending_timers() == 0);
    throttle<int> t(5, 10);
    REQUIRE(t.wait(1).state() == lwt::state::fulfilled);
    REQUIRE(engine::pending_timers() == 1);  // the once-a-second pass
    main::run(unix_::sleep(2.2));
    REQUIRE(engine::pending_timers() == 0);
    REQUIRE(t.wait(1).state() == lwt::state::fulfilled);  // and it works again
}

TEST_CASE("a rate or a max below 1 is a misuse") {
    REQUIRE_THROWS_AS(throttle<int>(0, 1), std::invalid_argument);
    REQUIRE_THROWS_AS(throttle<int>(1, 0), std::invalid_argument);
}
