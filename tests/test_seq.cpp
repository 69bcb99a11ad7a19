// <lwt/seq.hpp> and <lwt/result.hpp>: Lwt_seq as a coroutine generator, Lwt_result.
#include <lwt/main.hpp>
#include <lwt/result.hpp>
#include <lwt/seq.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

namespace {

seq<int> counting(int n, int& started) {
    ++started;
    for (int i = 0; i < n; ++i) {
        if (i % 2 == 1) co_await lwt::pause();  // an asynchronous step between some elements
        co_yield i;
    }
}

seq<int> failing() {
    co_yield 1;
    throw std::out_of_range("generator failed");
}

}  // namespace

TEST_CASE("a seq runs nothing until pulled, then yields its elements and the end") {
    int started = 0;
    auto s = counting(4, started);
    REQUIRE(started == 0);
    REQUIRE(main::run(s.next()) == std::optional<int>(0));
    REQUIRE(started == 1);
    auto p = s.next();
    REQUIRE(p.is_pending());  // the body waits on a pause
    REQUIRE(main::run(p) == std::optional<int>(1));
    REQUIRE(main::run(s.next()) == std::optional<int>(2));
    REQUIRE(main::run(s.next()) == std::optional<int>(3));
    REQUIRE_FALSE(main::run(s.next()).has_value());
    REQUIRE_FALSE(main::run(s.next()).has_value());
}

TEST_CASE("a seq's failure rejects the next() that reached it") {
    auto s = failing();
    REQUIRE(main::run(s.next()) == std::optional<int>(1));
    REQUIRE_THROWS_AS(main::run(s.next()), std::out_of_range);
    REQUIRE_FALSE(main::run(s.next()).has_value());
}

TEST_CASE("one next() at a time") {
    int started = 0;
    auto s = counting(4, started);
    main::run(s.next());
    auto p = s.next();
    REQUIRE_THROWS_AS(s.next(), std::logic_error);
    main::run(p);
}

TEST_CASE("map, filter, take, fold_left, iter and to_vector compose lazily") {
    int started = 0;
    auto v = main::run(counting(10, started).map([](int x) { return x * x; }).filter([](const int& x) { return x % 2 == 0; }).take(3).to_vector());
    REQUIRE(v == std::vector<int>{0, 4, 16});
    REQUIRE(main::run(seq<int>::of_vector({1, 2, 3}).fold_left([](int acc, int x) { return acc + x; }, 0)) == 6);
    std::vector<std::string> seen;
    main::run(seq<std::string>::of_vector({"a", "b"}).iter([&](std::string x) { seen.push_back(x); }));
    REQUIRE(seen == std::vector<std::string>{"a", "b"});
    auto u = seq<int>::unfold([](int n) { return return_(n < 3 ? std::optional<std::pair<int, int>>({n, n + 1}) : std::nullopt); }, 0);
    REQUIRE(main::run(std::move(u).to_vector()) == std::vector<int>{0, 1, 2});
}

TEST_CASE("dropping a seq suspended on a promise frees it once that promise settles") {
    auto gate = wait<void>();
    bool resumed = false;
    {
        auto body = [](promise<void> g, bool& r) -> seq<int> {
            co_await g;
            r = true;
            co_yield 1;
        };
        auto s = body(gate.first, resumed);
        auto p = s.next();
        REQUIRE(p.is_pending());
    }  // the seq is destroyed while its body waits
    gate.second.resolve();
    REQUIRE(resumed);  // it finished its wait, then was freed (ASan checks the rest)
}

// ---------------------------------------------------------------------------------------
// result

TEST_CASE("result holds a value or an error") {
    result<int, std::string> ok = 3;
    result<int, std::string> bad = lwt::error(std::string("nope"));
    REQUIRE(ok.ok());
    REQUIRE(ok.value() == 3);
    REQUIRE_FALSE(bad.ok());
    REQUIRE(bad.error() == "nope");
    REQUIRE_THROWS_AS(bad.value(), bad_result_access);
    REQUIRE(bad.value_or(7) == 7);
}

TEST_CASE("result_ helpers map, bind and recover over promises of results") {
    auto p = result_::return_<std::string>(2);
    auto doubled = result_::map([](int x) { return x * 2; }, p);
    REQUIRE(main::run(doubled).value() == 4);
    auto chained = result_::bind(doubled, [](int x) { return result_::fail<int>(std::string("at ") + std::to_string(x)); });
    REQUIRE(main::run(chained).error() == "at 4");
    auto relabelled = result_::map_error([](std::string e) { return e.size(); }, chained);
    REQUIRE(main::run(relabelled).error() == 4u);
    auto caught = result_::catch_(fail<int>(std::out_of_range("x")));
    REQUIRE_FALSE(main::run(caught).ok());
    REQUIRE_THROWS_AS(main::run(result_::get_exn(caught)), std::out_of_range);
    auto both = result_::both(result_::return_<std::string>(1), result_::return_<std::string>(std::string("b")));
    REQUIRE(main::run(both).value() == std::pair<int, std::string>(1, "b"));
}
