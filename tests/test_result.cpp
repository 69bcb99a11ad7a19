// <lwt/result.hpp>: Lwt_result over lwt::result<T, E>.
#include <lwt/main.hpp>
#include <lwt/result.hpp>

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace lwt;

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

TEST_CASE("result_::map transforms the value of a promised result") {
    auto doubled = result_::map([](int x) { return x * 2; }, result_::return_<std::string>(2));
    REQUIRE(main::run(doubled).value() == 4);
}

TEST_CASE("result_::bind passes a promised result's value to the next step") {
    auto chained = result_::bind(result_::return_<std::string>(4),
                                 [](int x) { return result_::fail<int>(std::string("at ") + std::to_string(x)); });
    REQUIRE(main::run(chained).error() == "at 4");
}

TEST_CASE("result_::map_error transforms the error of a promised result") {
    auto relabelled = result_::map_error([](std::string e) { return e.size(); }, result_::fail<int>(std::string("at 4")));
    REQUIRE(main::run(relabelled).error() == 4u);
}

TEST_CASE("result_::catch_ turns a rejection into an error, and get_exn back into the rejection") {
    auto caught = result_::catch_(fail<int>(std::out_of_range("x")));
    REQUIRE_FALSE(main::run(caught).ok());
    REQUIRE_THROWS_AS(main::run(result_::get_exn(caught)), std::out_of_range);
}

TEST_CASE("result_::both pairs the values of two promised results") {
    auto both = result_::both(result_::return_<std::string>(1), result_::return_<std::string>(std::string("b")));
    REQUIRE(main::run(both).value() == std::pair<int, std::string>(1, "b"));
}

TEST_CASE("result_::bind_error recovers from an error with another promised result; a value passes") {
    auto recover = [](std::string e) { return result_::return_<int>(static_cast<int>(e.size())); };
    auto fixed = main::run(result_::bind_error(result_::fail<int>(std::string("four")), recover));
    REQUIRE(fixed.value() == 4);
    auto kept = main::run(result_::bind_error(result_::return_<std::string>(7), recover));
    REQUIRE(kept.value() == 7);
}

TEST_CASE("result_::bind_lwt maps the value through a plain promise; an error passes") {
    auto twice = [](int x) { return lwt::return_(2 * x); };
    REQUIRE(main::run(result_::bind_lwt(result_::return_<std::string>(21), twice)).value() == 42);
    REQUIRE(main::run(result_::bind_lwt(result_::fail<int>(std::string("no")), twice)).error() == "no");
    auto done = main::run(result_::bind_lwt(result_::return_<std::string>(1), [](int) { return lwt::return_(); }));
    REQUIRE(done.ok());  // (result<std::monostate, E>)
}

TEST_CASE("result_::bind_lwt_error maps the error through a plain promise") {
    auto code = [](std::string e) { return lwt::return_(static_cast<int>(e.size())); };
    REQUIRE(main::run(result_::bind_lwt_error(result_::fail<int>(std::string("abc")), code)).error() == 3);
    REQUIRE(main::run(result_::bind_lwt_error(result_::return_<std::string>(5), code)).value() == 5);
}

TEST_CASE("result_::iter and iter_error run f on the value or on the error only") {
    std::vector<std::string> seen;
    auto note = [&seen](auto x) {
        seen.push_back(std::string("saw ") + x);
        return lwt::return_();
    };
    main::run(result_::iter(note, result_::return_<std::string>(std::string("v"))));
    main::run(result_::iter(note, result_::fail<std::string>(std::string("e"))));
    main::run(result_::iter_error(note, result_::fail<std::string>(std::string("e"))));
    main::run(result_::iter_error(note, result_::return_<std::string>(std::string("v"))));
    REQUIRE(seen == std::vector<std::string>{"saw v", "saw e"});
}

TEST_CASE("result_::lift and ok make promised results of a result and of a promise") {
    result<int, std::string> r = lwt::error(std::string("x"));
    REQUIRE(main::run(result_::lift(r)).error() == "x");
    REQUIRE(main::run(result_::ok<std::string>(lwt::return_(3))).value() == 3);
}
