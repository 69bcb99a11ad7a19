// Timers beyond sleep and timeout: unix_::sleep_until and unix_::every (<lwt/unix/time.hpp>),
// and lwt::timeout_timer (<lwt/timeout.hpp>, Lwt_timeout). On both engines (tests/meson.build).
// Times are checked from below (a timer never fires early); where a claim needs an upper
// bound, a run on a machine too loaded to keep time does not count (see every's test).
#include <lwt/main.hpp>
#include <lwt/timeout.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace lwt;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Runs the loop until `done()` (checked every millisecond).
void run_until(const std::function<bool()>& done) {
    main::run([&]() -> promise<void> {
        while (!done()) co_await unix_::sleep(1ms);
    });
}

}  // namespace

// ---- sleep_until ----

TEST_CASE("sleep_until resolves no earlier than its time") {
    const auto t = clock_type::now() + 20ms;
    main::run(unix_::sleep_until(t));
    REQUIRE(clock_type::now() >= t);
}

TEST_CASE("sleep_until a time already past resolves at the next iteration") {
    auto p = unix_::sleep_until(clock_type::now() - 1s);
    REQUIRE(p.is_pending());
    main::run(p);
    REQUIRE(p.state() == lwt::state::fulfilled);
}

TEST_CASE("sleep_until is cancelable and leaves no timer behind") {
    auto p = unix_::sleep_until(clock_type::now() + 60s);
    cancel(p);
    REQUIRE(p.state() == lwt::state::rejected);
    REQUIRE(engine::pending_timers() == 0);
}

// ---- every ----

TEST_CASE("every's ticks keep to start + k * period, however long f takes") {
    // f takes 40 ms of a 50 ms period. Ticks due at 50, 100, ... 300 ms; ticks measured from
    // the end of f would come at 50, 140, ... 500 ms. A run counts only if its first tick
    // (before any f) was on time: then every tick must be, within 35 ms.
    constexpr auto period = 50ms, slack = 35ms;
    int counted = 0;
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::vector<clock_type::duration> at;
        const auto t0 = clock_type::now();
        auto ticking = unix_::every(period, [&]() -> promise<void> {
            at.push_back(clock_type::now() - t0);
            co_await unix_::sleep(40ms);
        });
        run_until([&] { return at.size() >= 6; });
        cancel(ticking);
        for (std::size_t k = 0; k < at.size(); ++k) REQUIRE(at[k] >= (k + 1) * period);  // never early
        if (at[0] >= period + slack) continue;  // the machine is not keeping time: try again
        ++counted;
        bool on_time = true;
        for (std::size_t k = 0; k < at.size(); ++k) on_time = on_time && at[k] < (k + 1) * period + slack;
        if (on_time) return;
    }
    if (counted == 0) {
        test::skip("the machine was too loaded to keep 35 ms of time in three tries");
        return;
    }
    FAIL("ticks came later than start + k * period in every run that kept time");
}

TEST_CASE("a tick too late for some deadlines skips them rather than coming in a burst") {
    std::vector<clock_type::duration> at;
    const auto t0 = clock_type::now();
    auto ticking = unix_::every(50ms, [&] {
        at.push_back(clock_type::now() - t0);
        if (at.size() == 1) std::this_thread::sleep_for(130ms);  // the loop is busy until ~180 ms
    });
    run_until([&] { return at.size() >= 3; });
    cancel(ticking);
    REQUIRE(at[1] >= 200ms);  // the next deadline after 180 ms, not the missed ones at 100 and 150
    REQUIRE(at[2] >= 250ms);
}

TEST_CASE("cancelling every stops its calls") {
    int calls = 0;
    auto ticking = unix_::every(5ms, [&] { ++calls; });
    run_until([&] { return calls >= 2; });
    cancel(ticking);
    REQUIRE(ticking.state() == lwt::state::rejected);
    const int seen = calls;
    main::run(unix_::sleep(30ms));
    REQUIRE(calls == seen);
    REQUIRE(engine::pending_timers() == 0);
}

TEST_CASE("every is rejected with f's failure, and f is not called again") {
    int calls = 0;
    auto ticking = unix_::every(2ms, [&] {
        if (++calls == 3) throw std::runtime_error("tick 3 failed");
    });
    REQUIRE_THROWS_AS(main::run(ticking), std::runtime_error);
    main::run(unix_::sleep(10ms));
    REQUIRE(calls == 3);
}

TEST_CASE("every with a period that is not positive is a misuse") {
    REQUIRE_THROWS_AS(unix_::every(0.0, [] {}), std::invalid_argument);
    REQUIRE_THROWS_AS(unix_::every(-1ms, [] {}), std::invalid_argument);
}

// ---- lwt::timeout_timer (Lwt_timeout) ----

TEST_CASE("a timeout does nothing until started, then runs its action once, its duration later") {
    int fired = 0;
    clock_type::time_point when;
    timeout_timer t(20ms, [&] {
        ++fired;
        when = clock_type::now();
    });
    REQUIRE_FALSE(t.is_running());
    main::run(unix_::sleep(30ms));
    REQUIRE(fired == 0);
    const auto started = clock_type::now();
    t.start();
    REQUIRE(t.is_running());
    run_until([&] { return fired > 0; });
    main::run(unix_::sleep(40ms));
    REQUIRE(fired == 1);
    REQUIRE(when - started >= 20ms);
    REQUIRE_FALSE(t.is_running());
}

TEST_CASE("starting a running timeout starts it again from now (an idle timeout reset by activity)") {
    int fired = 0;
    timeout_timer idle(500ms, [&] { ++fired; });
    idle.start();
    for (int i = 0; i < 5; ++i) {  // activity every 20 ms for 100 ms
        main::run(unix_::sleep(20ms));
        idle.start();
    }
    const auto last = clock_type::now();
    REQUIRE(fired == 0);
    run_until([&] { return fired > 0; });
    REQUIRE(clock_type::now() - last >= 500ms);
    REQUIRE(fired == 1);
}

TEST_CASE("a stopped timeout never runs its action") {
    int fired = 0;
    timeout_timer t(10ms, [&] { ++fired; });
    t.start();
    t.stop();
    REQUIRE_FALSE(t.is_running());
    main::run(unix_::sleep(30ms));
    REQUIRE(fired == 0);
    REQUIRE(engine::pending_timers() == 0);
    t.stop();  // (stopping a stopped timeout does nothing)
}

TEST_CASE("change gives a running timeout its new duration, from now") {
    int fired = 0;
    timeout_timer t(60s, [&] { ++fired; });
    t.start();
    const auto changed = clock_type::now();
    t.change(20ms);
    REQUIRE(t.is_running());
    run_until([&] { return fired > 0; });
    REQUIRE(clock_type::now() - changed >= 20ms);
    t.change(10ms);  // not running: only the duration changes
    REQUIRE_FALSE(t.is_running());
}

TEST_CASE("an action may start its own timeout again") {
    int fired = 0;
    std::optional<timeout_timer> t;
    t.emplace(2ms, [&] {
        if (++fired < 3) t->start();
    });
    t->start();
    run_until([&] { return fired >= 3; });
    main::run(unix_::sleep(10ms));
    REQUIRE(fired == 3);
}

TEST_CASE("an action may destroy its own timeout") {
    int fired = 0;
    std::optional<timeout_timer> t;
    t.emplace(2ms, [&] {
        ++fired;
        t.reset();
    });
    t->start();
    run_until([&] { return fired > 0; });
    REQUIRE_FALSE(t.has_value());
}

TEST_CASE("destroying a running timeout stops it") {
    int fired = 0;
    {
        timeout_timer t(5ms, [&] { ++fired; });
        t.start();
    }
    main::run(unix_::sleep(20ms));
    REQUIRE(fired == 0);
    REQUIRE(engine::pending_timers() == 0);
}

TEST_CASE("an action's exception goes to set_exn_handler's handler") {
    std::exception_ptr got;
    timeout_timer::set_exn_handler([&](std::exception_ptr e) { got = e; });
    timeout_timer t(1ms, [] { throw std::runtime_error("in the action"); });
    t.start();
    run_until([&] { return got != nullptr; });
    timeout_timer::set_exn_handler(nullptr);
    REQUIRE_THROWS_AS(std::rethrow_exception(got), std::runtime_error);
}

TEST_CASE("a timeout's duration must be positive") {
    REQUIRE_THROWS_AS(timeout_timer(0.0, [] {}), std::invalid_argument);
    REQUIRE_THROWS_AS(timeout_timer(-1ms, [] {}), std::invalid_argument);
    timeout_timer t(1s, [] {});
    REQUIRE_THROWS_AS(t.change(0ms), std::invalid_argument);
}
