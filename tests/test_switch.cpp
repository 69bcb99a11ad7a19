// <lwt/switch.hpp>: Lwt_switch, and attached promises.
#include <lwt/main.hpp>
#include <lwt/switch.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

TEST_CASE("turn_off starts the hooks in reverse registration order and waits for all") {
    switch_ sw;
    std::vector<std::string> log;
    auto gate = wait<void>();
    sw.add_hook([&]() -> promise<void> {
        log.push_back("first registered starts");
        co_await gate.first;
        log.push_back("first registered ends");
    });
    sw.add_hook([&]() -> promise<void> {
        log.push_back("second registered");
        co_return;
    });
    REQUIRE(sw.is_on());
    auto off = sw.turn_off();
    REQUIRE_FALSE(sw.is_on());
    REQUIRE(log == std::vector<std::string>{"second registered", "first registered starts"});
    REQUIRE(off.is_pending());
    gate.second.resolve();
    REQUIRE(off.state() == lwt::state::fulfilled);
    REQUIRE(sw.turn_off().state() == lwt::state::fulfilled);  // off already
}

TEST_CASE("an off switch refuses hooks with switch_off") {
    switch_ sw;
    main::run(sw.turn_off());
    REQUIRE_THROWS_AS(sw.add_hook([] { return return_(); }), switch_off);
}

TEST_CASE("check throws switch_off once the switch is off") {
    switch_ on;
    REQUIRE_NOTHROW(on.check());
    switch_ sw;
    main::run(sw.turn_off());
    REQUIRE_THROWS_AS(sw.check(), switch_off);
}

TEST_CASE("add_hook_or_exec runs the hook at once on an off switch only") {
    switch_ sw;
    main::run(sw.turn_off());
    bool ran = false;
    auto p = sw.add_hook_or_exec([&] {
        ran = true;
        return return_();
    });
    REQUIRE(ran);
    REQUIRE(p.state() == lwt::state::fulfilled);
    switch_ on;
    bool ran2 = false;
    REQUIRE(on.add_hook_or_exec([&] {
                  ran2 = true;
                  return return_();
              }).state() == lwt::state::fulfilled);
    REQUIRE_FALSE(ran2);
}

TEST_CASE("turn_off fails with the first hook failure, after all hooks finished") {
    switch_ sw;
    bool other_finished = false;
    sw.add_hook([&]() -> promise<void> {
        co_await lwt::pause();
        other_finished = true;
    });
    sw.add_hook([]() -> promise<void> { throw std::out_of_range("hook failed"); });
    auto off = sw.turn_off();
    REQUIRE_THROWS_AS(main::run(off), std::out_of_range);
    REQUIRE(other_finished);
}

TEST_CASE("with_switch turns the switch off when f settles, whatever its outcome") {
    int closed = 0;
    int v = main::run(switch_::with_switch([&](switch_ sw) -> promise<int> {
        sw.add_hook([&] {
            ++closed;
            return return_();
        });
        co_await lwt::pause();
        co_return 3;
    }));
    REQUIRE(v == 3);
    REQUIRE(closed == 1);
    REQUIRE_THROWS_AS(main::run(switch_::with_switch([&](switch_ sw) -> promise<int> {
                          sw.add_hook([&] {
                              ++closed;
                              return return_();
                          });
                          throw std::runtime_error("f failed");
                      })),
                      std::runtime_error);
    REQUIRE(closed == 2);
}

TEST_CASE("cancelling turn_off reaches the hooks it waits for; the switch stays off") {
    switch_ sw;
    auto gate = task<void>();
    sw.add_hook([&] { return gate.first; });
    auto off = sw.turn_off();
    REQUIRE(off.is_pending());
    REQUIRE_FALSE(sw.is_on());
    cancel(off);
    REQUIRE(test::is_canceled(gate.first));
    REQUIRE_THROWS_AS(main::run(off), lwt::canceled);
    REQUIRE_FALSE(sw.is_on());
    REQUIRE(sw.turn_off().state() == lwt::state::fulfilled);  // off already
}

TEST_CASE("an attached promise is cancelled when the switch is turned off") {
    switch_ sw;
    auto s = sw.attach(unix_::sleep(60.0));
    auto done = sw.attach(return_(1));
    auto t = task<int>();
    auto finished = sw.attach(t.first);
    t.second.resolve(2);  // settles before: forgotten, not cancelled
    main::run(sw.turn_off());
    REQUIRE(test::is_canceled(s));
    REQUIRE(done.value() == 1);
    REQUIRE(finished.value() == 2);
    auto late = sw.attach(unix_::sleep(60.0));  // attached to an off switch: cancelled at once
    REQUIRE(test::is_canceled(late));
}
