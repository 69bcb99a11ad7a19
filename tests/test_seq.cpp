// <lwt/seq.hpp>: Lwt_seq as a lazily pulled coroutine generator.
#include <lwt/main.hpp>
#include <lwt/seq.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <algorithm>
#include <stdexcept>
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

TEST_CASE("empty, return_, return_lwt, cons, cons_lwt and of_list build sequences") {
    REQUIRE(main::run(seq<int>::empty().to_list()).empty());
    REQUIRE(main::run(seq<int>::return_(7).to_list()) == std::vector<int>{7});
    auto w = wait<int>();
    auto later = seq<int>::return_lwt(w.first).to_list();
    REQUIRE(later.is_pending());
    w.second.resolve(8);
    REQUIRE(main::run(later) == std::vector<int>{8});
    auto c = seq<int>::cons(1, seq<int>::cons_lwt(return_(2), seq<int>::of_list({3, 4})));
    REQUIRE(main::run(std::move(c).to_list()) == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("unfold takes a function giving the next state directly; unfold_lwt one giving a promise") {
    auto direct = seq<int>::unfold([](int n) { return n < 3 ? std::optional<std::pair<int, int>>({n, n + 1}) : std::nullopt; }, 0);
    REQUIRE(main::run(std::move(direct).to_list()) == std::vector<int>{0, 1, 2});
    auto later = seq<int>::unfold_lwt(
        [](int n) -> promise<std::optional<std::pair<int, int>>> {
            co_await lwt::pause();
            if (n >= 20) co_return std::nullopt;
            co_return std::pair(n, n + 10);
        },
        0);
    REQUIRE(main::run(std::move(later).to_list()) == std::vector<int>{0, 10});
}

TEST_CASE("append, map_s, filter_s, filter_map, filter_map_s and flat_map keep the order") {
    auto squares = seq<int>::of_list({1, 2}).append(seq<int>::of_list({3, 4})).map_s([](int x) -> promise<int> {
        co_await lwt::pause();
        co_return x * x;
    });
    REQUIRE(main::run(std::move(squares).to_list()) == std::vector<int>{1, 4, 9, 16});
    auto odd = seq<int>::of_list({1, 2, 3}).filter_s([](const int& x) -> promise<bool> {
        co_await lwt::pause();
        co_return x % 2 == 1;
    });
    REQUIRE(main::run(std::move(odd).to_list()) == std::vector<int>{1, 3});
    auto halves = seq<int>::of_list({1, 2, 4}).filter_map([](int x) { return x % 2 == 0 ? std::optional<int>(x / 2) : std::nullopt; });
    REQUIRE(main::run(std::move(halves).to_list()) == std::vector<int>{1, 2});
    auto named = seq<int>::of_list({1, 2}).filter_map_s([](int x) -> promise<std::optional<std::string>> {
        co_await lwt::pause();
        co_return x == 2 ? std::optional<std::string>("two") : std::nullopt;
    });
    REQUIRE(main::run(std::move(named).to_list()) == std::vector<std::string>{"two"});
    auto repeated = seq<int>::of_list({2, 0, 1}).flat_map([](int x) { return seq<int>::of_list(std::vector<int>(static_cast<std::size_t>(x), x)); });
    REQUIRE(main::run(std::move(repeated).to_list()) == std::vector<int>{2, 2, 1});
}

TEST_CASE("fold_left_s folds with a function giving a promise, in order") {
    auto joined = seq<std::string>::of_list({"a", "b", "c"}).fold_left_s(
        [](std::string acc, std::string x) -> promise<std::string> {
            co_await lwt::pause();
            co_return acc + x;
        },
        std::string(">"));
    REQUIRE(main::run(joined) == ">abc");
}

TEST_CASE("iter_p runs f on every element at once; iter_n at most n at a time") {
    auto gate = wait<void>();
    int running = 0, most = 0, done = 0;
    auto work = [&](int) -> promise<void> {
        ++running;
        most = std::max(most, running);
        co_await gate.first;
        --running;
        ++done;
    };
    auto all = seq<int>::of_list({1, 2, 3, 4, 5}).iter_p(work);
    REQUIRE(running == 5);
    gate.second.resolve();
    main::run(all);
    REQUIRE(done == 5);

    running = most = done = 0;
    auto slow = [&](int) -> promise<void> {
        ++running;
        most = std::max(most, running);
        co_await lwt::pause();
        --running;
        ++done;
    };
    main::run(seq<int>::of_list({1, 2, 3, 4, 5, 6, 7}).iter_n(slow, 2));
    REQUIRE(done == 7);
    REQUIRE(most == 2);
    REQUIRE_THROWS_AS(seq<int>::of_list({1}).iter_n(slow, 0), std::invalid_argument);
}

TEST_CASE("iter_p waits for every f, then passes on the first failure") {
    int finished = 0;
    auto f = [&](int x) -> promise<void> {
        co_await lwt::pause();
        ++finished;
        if (x == 2) throw std::runtime_error("two failed");
    };
    REQUIRE_THROWS_WITH(main::run(seq<int>::of_list({1, 2, 3}).iter_p(f)), "two failed");
    REQUIRE(finished == 3);
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

TEST_CASE("cancelling a pending next() cancels what the body awaits; an uncaught cancel ends the seq") {
    auto gate = task<void>();
    auto body = [](promise<void> g) -> seq<int> {
        co_yield 1;
        co_await g;
        co_yield 2;
    };
    auto s = body(gate.first);
    REQUIRE(main::run(s.next()) == std::optional<int>(1));
    auto p = s.next();
    REQUIRE(p.is_pending());
    cancel(p);
    REQUIRE(test::is_canceled(gate.first));  // cancellation reached the body's wait
    REQUIRE(test::is_canceled(p));
    REQUIRE_FALSE(main::run(s.next()).has_value());  // the body ended with it
}

TEST_CASE("a body that catches the cancel of its wait decides what the cancelled next() gets") {
    auto gate = task<void>();
    auto body = [](promise<void> g) -> seq<int> {
        bool canceled = false;
        try {
            co_await g;
        } catch (const lwt::canceled&) {
            canceled = true;
        }
        co_yield canceled ? -1 : 1;
        co_yield 2;
    };
    auto s = body(gate.first);
    auto p = s.next();
    cancel(p);
    REQUIRE(main::run(p) == std::optional<int>(-1));
    REQUIRE(main::run(s.next()) == std::optional<int>(2));
    REQUIRE_FALSE(main::run(s.next()).has_value());
}

TEST_CASE("cancelling a next() whose body awaits something not cancelable loses no element") {
    auto gate = wait<void>();  // Lwt.wait: cancel does nothing to it
    auto body = [](promise<void> g) -> seq<int> {
        co_await g;
        co_yield 7;
        co_yield 8;
    };
    auto s = body(gate.first);
    auto p = s.next();
    cancel(p);
    REQUIRE(p.is_pending());  // nothing cancelable to stop: it still waits for the body
    REQUIRE_THROWS_AS(s.next(), std::logic_error);
    gate.second.resolve();
    REQUIRE(main::run(p) == std::optional<int>(7));
    REQUIRE(main::run(s.next()) == std::optional<int>(8));
}
