// <lwt/mvar.hpp>: Lwt_mvar.
#include <lwt/main.hpp>
#include <lwt/mvar.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

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

TEST_CASE("a cancelled put deposits no value") {
    mvar<int> mv(0);
    auto p = mv.put(1);
    cancel(p);
    REQUIRE(test::is_canceled(p));
    REQUIRE(mv.take().value() == 0);
    REQUIRE(mv.is_empty());  // the cancelled put did not get in
}

TEST_CASE("a cancelled take takes no value") {
    mvar<int> mv;
    auto t = mv.take();
    cancel(t);
    REQUIRE(test::is_canceled(t));
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
