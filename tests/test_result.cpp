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
