// <lwt/list.hpp>: Lwt_list over any range.
#include <lwt/list.hpp>
#include <lwt/main.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <array>
#include <list>
#include <string>
#include <vector>

using namespace lwt;

namespace {
// Settles on the next loop iteration with f(x): makes the order of completion observable.
template <class T>
promise<T> later(T v, int iterations = 1) {
    for (int i = 0; i < iterations; ++i) co_await lwt::pause();
    co_return v;
}
}  // namespace

TEST_CASE("_s functions run one element after the other, in order") {
    std::vector<int> log;
    int running = 0, max_running = 0;
    auto f = [&](const int& x) -> promise<void> {
        max_running = std::max(max_running, ++running);
        co_await lwt::pause();
        log.push_back(x);
        --running;
    };
    main::run(list::iter_s(f, std::list<int>{3, 1, 2}));
    REQUIRE(log == std::vector<int>{3, 1, 2});
    REQUIRE(max_running == 1);
    auto idx = main::run(list::mapi_s([](std::size_t i, const int& x) { return later(static_cast<int>(i) * 100 + x); },
                                      std::vector<int>{5, 6}));
    REQUIRE(idx == std::vector<int>{5, 106});
    REQUIRE(main::run(list::map_s([](const int& x) { return later(std::to_string(x)); }, std::array<int, 2>{1, 2})) ==
            std::vector<std::string>{"1", "2"});
}

TEST_CASE("_p functions start every call at once, left to right, results in input order") {
    std::vector<int> started;
    auto f = [&](const int& x) {
        started.push_back(x);
        return later(x * 2, 4 - x);  // later elements finish first
    };
    auto p = list::map_p(f, std::vector<int>{1, 2, 3});
    REQUIRE(started == std::vector<int>{1, 2, 3});  // all started eagerly
    REQUIRE(main::run(p) == std::vector<int>{2, 4, 6});
}

TEST_CASE("_p functions wait for every call and fail with the first failure in time") {
    bool slow_finished = false;
    auto f = [&](const int& x) -> promise<void> {
        if (x == 1) {
            co_await lwt::pause();
            co_await lwt::pause();
            slow_finished = true;
            throw std::logic_error("late failure");
        }
        co_await lwt::pause();
        throw std::out_of_range("first failure");
    };
    REQUIRE_THROWS_AS(main::run(list::iter_p(f, std::vector<int>{1, 2})), std::out_of_range);
    REQUIRE(slow_finished);
}

namespace {
const std::vector<int> xs{1, 2, 3, 4, 5, 6};
auto even = [](const int& x) { return later(x % 2 == 0); };
auto big = [](const int& x) { return later(x > 5); };
}  // namespace

TEST_CASE("filter and filter_map keep what f selects, in order, in both flavours") {
    REQUIRE(main::run(list::filter_s(even, xs)) == std::vector<int>{2, 4, 6});
    REQUIRE(main::run(list::filter_p(even, xs)) == std::vector<int>{2, 4, 6});
    auto half = [](const int& x) { return later(x % 2 == 0 ? std::optional<int>(x / 2) : std::nullopt); };
    REQUIRE(main::run(list::filter_map_s(half, xs)) == std::vector<int>{1, 2, 3});
    REQUIRE(main::run(list::filter_map_p(half, xs)) == std::vector<int>{1, 2, 3});
}

TEST_CASE("fold_left_s folds from the left") {
    REQUIRE(main::run(list::fold_left_s([](int acc, const int& x) { return later(acc * 10 + x); }, 0,
                                        std::vector<int>{1, 2, 3})) == 123);
}

TEST_CASE("for_all and exists test the elements, in both flavours") {
    auto positive = [](const int& x) { return later(x > 0); };
    REQUIRE(main::run(list::for_all_s(positive, xs)));
    REQUIRE(main::run(list::for_all_p(positive, xs)));
    REQUIRE_FALSE(main::run(list::for_all_s(big, xs)));
    REQUIRE(main::run(list::exists_s(big, xs)));
    REQUIRE(main::run(list::exists_p(big, xs)));
}

TEST_CASE("find_s gives the first element f accepts, or nothing") {
    REQUIRE(main::run(list::find_s(big, xs)) == std::optional<int>(6));
    REQUIRE_FALSE(main::run(list::find_s([](const int& x) { return later(x > 9); }, xs)).has_value());
}

TEST_CASE("partition splits the elements by f, in both flavours") {
    auto [ev, od] = main::run(list::partition_s(even, xs));
    REQUIRE(ev == std::vector<int>{2, 4, 6});
    REQUIRE(od == std::vector<int>{1, 3, 5});
    auto pp = main::run(list::partition_p(even, xs));
    REQUIRE(pp.first == std::vector<int>{2, 4, 6});
    REQUIRE(pp.second == std::vector<int>{1, 3, 5});
}

TEST_CASE("iteri_p calls f with each element's index") {
    std::vector<std::size_t> indices;
    main::run(list::iteri_p(
        [&](std::size_t i, const int&) {
            indices.push_back(i);
            return return_();
        },
        xs));
    REQUIRE(indices == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
}

TEST_CASE("the _s functions stop at the first failure") {
    int calls = 0;
    auto f = [&](const int& x) -> promise<void> {
        ++calls;
        if (x == 2) throw std::out_of_range("two");
        co_return;
    };
    REQUIRE_THROWS_AS(main::run(list::iter_s(f, std::vector<int>{1, 2, 3})), std::out_of_range);
    REQUIRE(calls == 2);
}

TEST_CASE("a capturing coroutine lambda given to a _p function lives until every call settles") {
    auto owned = std::make_shared<int>(10);
    auto p = list::map_p([owned](const int& x) -> promise<int> {
        co_await lwt::pause();
        co_return x + *owned;
    }, std::vector<int>{1, 2});
    owned.reset();
    REQUIRE(main::run(p) == std::vector<int>{11, 12});
}
