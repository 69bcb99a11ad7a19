// <lwt/result.hpp>: Lwt_result over lwt::result<T, E>.
#include <lwt/main.hpp>
#include <lwt/result.hpp>

#include <catch2/catch.hpp>

#include <string>

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
