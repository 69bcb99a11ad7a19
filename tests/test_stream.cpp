// <lwt/stream.hpp>: Lwt_stream with channel semantics (docs/semantics.md rule 12).
#include <lwt/main.hpp>
#include <lwt/stream.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <cctype>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

using namespace lwt;

TEST_CASE("create: pushed elements are read in order, then the end") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    push(1);
    push(2);
    REQUIRE(s.get().value() == std::optional<int>(1));
    auto pending = s.get();
    REQUIRE(pending.value() == std::optional<int>(2));
    auto later = s.get();
    REQUIRE(later.is_pending());
    push(3);
    REQUIRE(later.value() == std::optional<int>(3));
    push(std::nullopt);
    REQUIRE(s.is_closed());
    REQUIRE_FALSE(s.get().value().has_value());
    REQUIRE_THROWS_AS(push(4), stream_closed);
}

TEST_CASE("next throws stream_empty at the end") {
    auto s = stream<int>::of_vector({7});
    REQUIRE(main::run(s.next()) == 7);
    REQUIRE_THROWS_AS(main::run(s.next()), stream_empty);
}

TEST_CASE("each element goes to one reader, in the order readers started reading") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    auto a = s.get();
    auto b = s.get();
    auto c = s.get();
    push(10);
    push(20);
    REQUIRE(a.value() == std::optional<int>(10));
    REQUIRE(b.value() == std::optional<int>(20));
    REQUIRE(c.is_pending());
    push(std::nullopt);
    REQUIRE_FALSE(c.value().has_value());
}

TEST_CASE("a cancelled reader loses no element") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    auto a = s.get();
    auto b = s.get();
    cancel(a);
    REQUIRE(test::is_canceled(a));
    push(1);
    REQUIRE(b.value() == std::optional<int>(1));
    auto c = s.get();
    cancel(c);
    push(2);  // nobody waits: buffered
    REQUIRE(s.get().value() == std::optional<int>(2));
}

TEST_CASE("every waiting read (next, peek, npeek, junk, njunk, is_empty, to_list) is cancelable and loses nothing") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    auto n = s.next();
    auto p = s.peek();
    auto np = s.npeek(2);
    auto j = s.junk();
    auto nj = s.njunk(2);
    auto e = s.is_empty();
    auto l = s.to_list();
    cancel(n);
    cancel(j);
    cancel(nj);
    cancel(p);
    cancel(np);
    cancel(e);
    cancel(l);
    REQUIRE(test::is_canceled(n));
    REQUIRE(test::is_canceled(p));
    REQUIRE(test::is_canceled(np));
    REQUIRE(test::is_canceled(j));
    REQUIRE(test::is_canceled(nj));
    REQUIRE(test::is_canceled(e));
    REQUIRE(test::is_canceled(l));
    push(1);
    push(2);
    push(std::nullopt);
    REQUIRE(main::run(s.to_list()) == std::vector<int>{1, 2});  // nothing was taken or dropped
}

TEST_CASE("create_bounded(0) is std::invalid_argument") {
    REQUIRE_THROWS_AS(stream<int>::create_bounded(0), std::invalid_argument);
}

TEST_CASE("create_bounded: one push blocks when full, a second is stream_full, close refuses both") {
    auto sp = stream<int>::create_bounded(2);
    auto& s = sp.first;
    auto& push = sp.second;
    REQUIRE(push.push(1).state() == lwt::state::fulfilled);
    REQUIRE(push.push(2).state() == lwt::state::fulfilled);
    auto blocked = push.push(3);
    REQUIRE(blocked.is_pending());
    REQUIRE(push.blocked());
    REQUIRE(test::rejected_with<stream_full>(push.push(4)));
    REQUIRE(s.get().value() == std::optional<int>(1));
    REQUIRE(blocked.state() == lwt::state::fulfilled);  // room was made: it got in
    REQUIRE(push.count() == 2);
    auto blocked2 = push.push(5);
    push.close();
    REQUIRE(test::rejected_with<stream_closed>(blocked2));
    REQUIRE(test::rejected_with<stream_closed>(push.push(6)));
    REQUIRE(main::run(s.to_list()) == std::vector<int>{2, 3});
}

TEST_CASE("a cancelled bounded push withdraws its value") {
    auto sp = stream<int>::create_bounded(1);
    auto& s = sp.first;
    auto& push = sp.second;
    main::run(push.push(1));
    auto p = push.push(2);
    cancel(p);
    REQUIRE(test::is_canceled(p));
    REQUIRE_FALSE(push.blocked());
    push.close();
    REQUIRE(main::run(s.to_list()) == std::vector<int>{1});
}

TEST_CASE("from pulls lazily, one call at a time") {
    int calls = 0;
    auto s = stream<int>::from([&]() -> promise<std::optional<int>> {
        ++calls;
        co_await lwt::pause();
        if (calls > 2) co_return std::nullopt;
        co_return calls;
    });
    REQUIRE(calls == 0);
    auto a = s.get();
    auto b = s.get();
    REQUIRE(calls == 1);  // one pull in flight for both readers
    REQUIRE(main::run(a) == std::optional<int>(1));
    REQUIRE(main::run(b) == std::optional<int>(2));
    REQUIRE(calls == 2);
    REQUIRE_FALSE(main::run(s.get()).has_value());
    REQUIRE(s.is_closed());
}

TEST_CASE("a failure of from's function goes to the reader, and the stream goes on") {
    int calls = 0;
    auto s = stream<int>::from([&]() -> promise<std::optional<int>> {
        ++calls;
        co_await lwt::pause();
        if (calls == 2) throw std::out_of_range("second pull fails");
        if (calls > 3) co_return std::nullopt;
        co_return calls;
    });
    auto a = s.get();
    auto b = s.get();
    REQUIRE(main::run(a) == std::optional<int>(1));
    REQUIRE_THROWS_AS(main::run(b), std::out_of_range);
    REQUIRE(main::run(s.get()) == std::optional<int>(3));
    REQUIRE_FALSE(main::run(s.get()).has_value());
}

TEST_CASE("peek, npeek, junk, njunk, get_available and get_available_up_to") {
    auto s = stream<int>::of_vector({1, 2, 3, 4, 5});
    REQUIRE(main::run(s.peek()) == std::optional<int>(1));
    REQUIRE(main::run(s.npeek(3)) == std::vector<int>{1, 2, 3});
    main::run(s.junk());
    REQUIRE(main::run(s.peek()) == std::optional<int>(2));
    main::run(s.njunk(2));
    REQUIRE(s.get_available_up_to(1) == std::vector<int>{4});
    REQUIRE(s.get_available() == std::vector<int>{5});
    REQUIRE(main::run(s.is_empty()));
    REQUIRE(main::run(s.npeek(3)).empty());
}

TEST_CASE("is_empty waits for an element, which it leaves in the stream") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    auto e = s.is_empty();
    REQUIRE(e.is_pending());
    push(1);
    REQUIRE_FALSE(e.value());
    REQUIRE(s.get().value() == std::optional<int>(1));  // peeked, not consumed
}

TEST_CASE("is_empty waits for the end of a stream with no element left") {
    auto sp = stream<int>::create();
    auto e = sp.first.is_empty();
    REQUIRE(e.is_pending());
    sp.second(std::nullopt);
    REQUIRE(e.value());
}

TEST_CASE("closed() resolves when the stream is closed") {
    auto sp = stream<int>::create();
    auto& push = sp.second;
    auto c = sp.first.closed();
    REQUIRE(c.is_pending());
    push(1);
    REQUIRE(c.is_pending());
    push(std::nullopt);
    REQUIRE(c.state() == lwt::state::fulfilled);
}

TEST_CASE("clone receives every element too, buffered ones included") {
    auto sp = stream<std::string>::create();
    auto& s = sp.first;
    auto& push = sp.second;
    push("a");
    auto c = s.clone();
    push("b");
    push(std::nullopt);
    REQUIRE(main::run(s.to_list()) == std::vector<std::string>{"a", "b"});
    REQUIRE(main::run(c.to_list()) == std::vector<std::string>{"a", "b"});
}

TEST_CASE("map, map_s, filter, filter_s and filter_map transform lazily") {
    int pulled = 0;
    auto src = stream<int>::from([&]() -> promise<std::optional<int>> {
        if (pulled == 6) co_return std::nullopt;
        co_return ++pulled;
    });
    auto out = src.map([](int x) { return x * 10; })
                   .filter([](int x) { return x % 20 == 0; })
                   .map_s([](int x) -> promise<std::string> {
                       co_await lwt::pause();
                       co_return std::to_string(x);
                   });
    REQUIRE(pulled == 0);  // nothing is read until the result is
    REQUIRE(main::run(out.to_list()) == std::vector<std::string>{"20", "40", "60"});
    auto fm = stream<int>::of_vector({1, 2, 3}).filter_map(
        [](int x) { return x == 2 ? std::nullopt : std::optional<double>(x / 2.0); });
    REQUIRE(main::run(fm.to_list()) == std::vector<double>{0.5, 1.5});
    auto fs = stream<int>::of_vector({1, 2, 3, 4}).filter_s([](const int& x) { return return_(x > 2); });
    REQUIRE(main::run(fs.to_list()) == std::vector<int>{3, 4});
}

TEST_CASE("fold and fold_s reduce the elements in order") {
    REQUIRE(main::run(stream<int>::of_vector({1, 2, 3}).fold([](int x, int acc) { return acc + x; }, 0)) == 6);
    REQUIRE(main::run(stream<int>::of_vector({1, 2, 3}).fold_s(
                [](int x, std::string acc) { return return_(acc + std::to_string(x)); }, std::string())) == "123");
}

TEST_CASE("iter and iter_s call f on each element in order") {
    std::vector<int> seen;
    main::run(stream<int>::of_vector({4, 5}).iter([&](int x) { seen.push_back(x); }));
    main::run(stream<int>::of_vector({6}).iter_s([&](int x) -> promise<void> {
        co_await lwt::pause();
        seen.push_back(x);
    }));
    REQUIRE(seen == std::vector<int>{4, 5, 6});
}

TEST_CASE("find takes the elements up to the first match, and leaves the rest") {
    auto s = stream<int>::of_vector({1, 8, 3, 9});
    REQUIRE(main::run(s.find([](int x) { return x > 5; })) == std::optional<int>(8));
    REQUIRE(main::run(s.get()) == std::optional<int>(3));
}

namespace {
// A call of f for iter_p and iter_n: how many run at once, at most, and how many ended.
struct concurrency {
    int running = 0, max_running = 0, done = 0;
    auto f() {
        return [this](int) -> promise<void> {
            max_running = std::max(max_running, ++running);
            co_await lwt::pause();
            co_await lwt::pause();
            --running;
            ++done;
        };
    }
};
}  // namespace

TEST_CASE("iter_p runs every f concurrently") {
    concurrency c;
    auto f = c.f();
    main::run(stream<int>::of_vector(std::vector<int>(10, 0)).iter_p(f));
    REQUIRE(c.done == 10);
    REQUIRE(c.max_running == 10);
}

TEST_CASE("iter_p fails with a failure of f") {
    auto failing = stream<int>::of_vector({1, 2}).iter_p([](int x) -> promise<void> {
        if (x == 2) throw std::out_of_range("two");
        co_return;
    });
    REQUIRE_THROWS_AS(main::run(failing), std::out_of_range);
}

TEST_CASE("iter_n bounds the concurrency") {
    concurrency c;
    auto f = c.f();
    int& done = c.done;
    int& max_running = c.max_running;
    main::run(stream<int>::of_vector(std::vector<int>(10, 0)).iter_n(f, 3));
    REQUIRE(done == 10);
    REQUIRE(max_running == 3);
    REQUIRE_THROWS_AS(stream<int>::of_vector({}).iter_n(f, 0), std::invalid_argument);
}

TEST_CASE("append gives one stream's elements after the other's") {
    auto a = stream<int>::of_vector({1, 2});
    auto b = stream<int>::of_vector({3});
    REQUIRE(main::run(a.append(b).to_list()) == std::vector<int>{1, 2, 3});
}

TEST_CASE("combine pairs the elements up to the end of the shorter stream") {
    auto x = stream<int>::of_vector({1, 2, 3});
    auto y = stream<std::string>::of_vector({"a", "b"});
    auto pairs = main::run(x.combine(y).to_list());
    REQUIRE(pairs.size() == 2);
    REQUIRE(pairs[1] == std::pair<int, std::string>(2, "b"));
}

TEST_CASE("concat gives the elements of a stream of streams in order") {
    auto ss = stream<stream<int>>::of_vector({stream<int>::of_vector({1}), stream<int>::of_vector({}),
                                              stream<int>::of_vector({2, 3})});
    REQUIRE(main::run(stream<int>::concat(ss).to_list()) == std::vector<int>{1, 2, 3});
}

TEST_CASE("nget takes up to n elements, fewer only at the end") {
    auto s = stream<int>::of_vector({1, 2, 3, 4, 5});
    REQUIRE(main::run(s.nget(2)) == std::vector<int>{1, 2});
    REQUIRE(main::run(s.nget(10)) == std::vector<int>{3, 4, 5});
    REQUIRE(main::run(s.nget(1)).empty());
}

TEST_CASE("nget waits for elements pushed later") {
    auto [s, push] = stream<int>::create();
    auto p = s.nget(3);
    push(1);
    REQUIRE(p.is_pending());
    push(2);
    push(3);
    REQUIRE(main::run(p) == std::vector<int>{1, 2, 3});
}

TEST_CASE("get_while takes elements while they hold; the first that does not stays") {
    auto s = stream<int>::of_vector({1, 2, 7, 3});
    REQUIRE(main::run(s.get_while([](int x) { return x < 5; })) == std::vector<int>{1, 2});
    REQUIRE(main::run(s.get()) == std::optional<int>(7));
    REQUIRE(main::run(s.get_while([](int) { return true; })) == std::vector<int>{3});
}

TEST_CASE("junk_while drops elements while they hold") {
    auto s = stream<std::string>::of_vector({"", "", "x", ""});
    main::run(s.junk_while([](const std::string& l) { return l.empty(); }));
    REQUIRE(main::run(s.to_list()) == std::vector<std::string>{"x", ""});
}

TEST_CASE("find_map gives the first element f maps to a value, consuming up to it") {
    auto s = stream<std::string>::of_vector({"a", "12", "b", "34"});
    auto as_number = [](const std::string& x) -> std::optional<int> {
        if (x.empty() || !std::isdigit(static_cast<unsigned char>(x[0]))) return std::nullopt;
        return std::stoi(x);
    };
    REQUIRE(main::run(s.find_map(as_number)) == std::optional<int>(12));
    REQUIRE(main::run(s.get()) == std::optional<std::string>("b"));
    REQUIRE(main::run(s.find_map(as_number)) == std::optional<int>(34));
    REQUIRE(main::run(s.find_map(as_number)) == std::nullopt);
}

TEST_CASE("filter_map_s keeps what f's promise maps to a value, in order") {
    auto s = stream<int>::of_vector({1, 2, 3, 4});
    auto halves = s.filter_map_s([](int x) -> promise<std::optional<int>> {
        co_await lwt::pause();
        if (x % 2 != 0) co_return std::nullopt;
        co_return x / 2;
    });
    REQUIRE(main::run(halves.to_list()) == std::vector<int>{1, 2});
}

TEST_CASE("map_list gives every element of every list f returns, in order; flatten of lists") {
    auto s = stream<int>::of_vector({1, 0, 3});
    auto repeated = s.map_list([](int x) { return std::vector<int>(static_cast<std::size_t>(x), x); });
    REQUIRE(main::run(repeated.to_list()) == std::vector<int>{1, 3, 3, 3});
    auto lists = stream<std::vector<std::string>>::of_vector({{"a", "b"}, {}, {"c"}});
    REQUIRE(main::run(lists.flatten().to_list()) == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("choose gives each element of several streams as it comes, and ends when all have") {
    auto a = stream<std::string>::create();
    auto b = stream<std::string>::create();
    auto both = stream<std::string>::choose({a.first, b.first});
    auto first = both.get();
    REQUIRE(first.is_pending());
    b.second("b1");
    REQUIRE(main::run(first) == std::optional<std::string>("b1"));
    a.second("a1");
    REQUIRE(main::run(both.get()) == std::optional<std::string>("a1"));
    a.second(std::nullopt);
    auto later = both.get();
    main::run(lwt::pause());
    REQUIRE(later.is_pending());  // b has not ended
    b.second("b2");
    b.second(std::nullopt);
    REQUIRE(main::run(later) == std::optional<std::string>("b2"));
    REQUIRE(main::run(both.get()) == std::nullopt);
}

TEST_CASE("choose lets streams that all have elements ready take turns, losing none") {
    auto a = stream<int>::of_vector({1, 2, 3});
    auto b = stream<int>::of_vector({10, 20, 30});
    auto got = main::run(stream<int>::choose({a, b}).to_list());
    REQUIRE(got == std::vector<int>{1, 10, 2, 20, 3, 30});
}

TEST_CASE("choose takes an element only when it hands it on: the others stay in their streams") {
    auto a = stream<int>::create();
    auto b = stream<int>::create();
    auto both = stream<int>::choose({a.first, b.first});
    a.second(1);
    b.second(2);
    REQUIRE(main::run(both.get()) == std::optional<int>(1));
    REQUIRE(main::run(b.first.get()) == std::optional<int>(2));  // b's element was only peeked at
}

TEST_CASE("wrap_exn turns each failure of the source into an error value and goes on") {
    int calls = 0;
    auto s = stream<int>::from([&calls]() -> promise<std::optional<int>> {
        ++calls;
        if (calls == 2) throw std::runtime_error("bad read");
        if (calls == 4) co_return std::nullopt;
        co_return calls;
    });
    auto w = main::run(s.wrap_exn().to_list());
    REQUIRE(w.size() == 3);
    REQUIRE(w[0].value() == 1);
    REQUIRE_THROWS_WITH(std::rethrow_exception(w[1].error()), "bad read");
    REQUIRE(w[2].value() == 3);
}

TEST_CASE("parse gives the parser's result and leaves what it did not take") {
    auto s = stream<char>::of_vector({'4', '2', ';', 'x'});
    auto number = [](stream<char> in) -> promise<int> {
        auto digits = co_await in.get_while([](char c) { return c >= '0' && c <= '9'; });
        if (digits.empty()) throw std::invalid_argument("no number");
        co_return std::stoi(std::string(digits.begin(), digits.end()));
    };
    REQUIRE(main::run(s.parse(number)) == 42);
    REQUIRE(main::run(s.to_list()) == std::vector<char>{';', 'x'});
}

TEST_CASE("parse puts back, in order, what a failing parser took, so another may try") {
    auto s = stream<std::string>::of_vector({"GET", "/", "HTTP/9", "rest"});
    auto strict = [](stream<std::string> in) -> promise<std::string> {
        auto words = co_await in.nget(3);
        if (words[2] != "HTTP/1.1") throw std::runtime_error("unsupported " + words[2]);
        co_return words[1];
    };
    REQUIRE_THROWS_WITH(main::run(s.parse(strict)), "unsupported HTTP/9");
    REQUIRE(main::run(s.nget(4)) == std::vector<std::string>{"GET", "/", "HTTP/9", "rest"});
}

TEST_CASE("parse nested in a parse: the inner failure gives its elements back to the outer parser") {
    auto s = stream<int>::of_vector({1, 2, 3, 4});
    auto outer = [](stream<int> in) -> promise<int> {
        co_await in.junk();  // 1
        auto failing = [](stream<int> in2) -> promise<void> {
            co_await in2.njunk(2);  // 2, 3
            throw std::runtime_error("inner");
        };
        try {
            co_await in.parse(failing);
        } catch (const std::runtime_error&) {
        }
        int next = *co_await in.get();  // 2 again
        throw std::runtime_error("outer after " + std::to_string(next));
    };
    REQUIRE_THROWS_WITH(main::run(s.parse(outer)), "outer after 2");
    // Everything the outer parse took (1, then 2 once) is back, once each.
    REQUIRE(main::run(s.to_list()) == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("parse hands the elements it puts back to a reader already waiting") {
    auto sp = stream<int>::create();
    auto& s = sp.first;
    auto parser = [](stream<int> in) -> promise<void> {
        co_await in.junk();
        co_await lwt::pause();
        throw std::runtime_error("no");
    };
    sp.second(5);
    auto parsed = s.parse(parser);
    auto waiting = s.get();  // comes after the parser's read
    REQUIRE(waiting.is_pending());
    REQUIRE_THROWS(main::run(parsed));
    REQUIRE(main::run(waiting) == std::optional<int>(5));
}

TEST_CASE("move-only elements pass through a stream") {
    auto sp = stream<std::unique_ptr<int>>::create();
    sp.second(std::make_unique<int>(4));
    sp.second(std::nullopt);
    auto v = main::run(sp.first.get());
    REQUIRE(**v == 4);
}

TEST_CASE("100,000 elements from many producers reach many concurrent readers exactly once") {
    auto sp = stream<int>::create_bounded(64);
    auto& s = sp.first;
    auto& push = sp.second;
    std::vector<int> seen(100'000, 0);
    auto producer = [&](int base) -> promise<void> {
        for (int i = 0; i < 10'000; ++i) co_await push.push(base + i);
    };
    auto reader = [&]() -> promise<void> {
        while (auto v = co_await s.get()) {
            ++seen[static_cast<std::size_t>(*v)];
            if (*v % 7 == 0) co_await lwt::pause();
        }
    };
    std::vector<promise<void>> readers;
    for (int r = 0; r < 8; ++r) readers.push_back(reader());
    // Producers run one after another (a second concurrent push on a full bounded stream is
    // refused by design); their pushes interleave with the readers.
    auto producers = [&]() -> promise<void> {
        for (int p = 0; p < 10; ++p) co_await producer(p * 10'000);
        push.close();
    };
    main::run(join(producers(), join(std::move(readers))));
    for (int count : seen) REQUIRE(count == 1);
}
