// <lwt/bind.hpp>: Lwt's bind-style combinators and Lwt.Infix.
#include <lwt/bind.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {
struct boom : std::runtime_error {
    boom() : std::runtime_error("boom") {}
};
using test::is_canceled;
}  // namespace

TEST_CASE("bind runs its callback at once on a resolved promise") {
    bool ran = false;
    auto p = lwt::bind(lwt::return_(1), [&](int v) {
        ran = true;
        return lwt::return_(v + 1);
    });
    REQUIRE(ran);
    REQUIRE(p.value() == 2);
}

TEST_CASE("bind waits for a pending promise") {
    auto w = lwt::wait<int>();
    auto p = lwt::bind(w.first, [](int v) { return lwt::return_(std::to_string(v)); });
    REQUIRE(p.is_pending());
    w.second.resolve(5);
    REQUIRE(p.value() == "5");
}

TEST_CASE("bind skips the callback on a rejected promise") {
    bool ran = false;
    auto q = lwt::bind(lwt::fail<int>(boom()), [&](int) {
        ran = true;
        return lwt::return_();
    });
    REQUIRE_FALSE(ran);
    REQUIRE_THROWS_AS(q.value(), boom);
}

TEST_CASE("an exception thrown by a bind callback becomes the rejection instead of escaping") {
    lwt::promise<int> p = lwt::return_(0);
    REQUIRE_NOTHROW(p = lwt::bind(lwt::return_(1), [](int) -> lwt::promise<int> { throw boom(); }));
    REQUIRE_THROWS_AS(p.value(), boom);
}

TEST_CASE("bind of promise<void> calls the callback with no argument") {
    auto p = lwt::bind(lwt::return_(), [] { return lwt::return_(3); });
    REQUIRE(p.value() == 3);
}

TEST_CASE("map transforms the value") {
    auto p = lwt::map([](int v) { return v * 2; }, lwt::return_(21));
    REQUIRE(p.value() == 42);
}

TEST_CASE("map of a void function gives promise<void>") {
    int seen = 0;
    lwt::promise<void> q = lwt::map([&](int v) { seen = v; }, lwt::return_(4));
    REQUIRE(q.state() == lwt::state::fulfilled);
    REQUIRE(seen == 4);
}

TEST_CASE("an exception thrown by map's function becomes the rejection") {
    auto r = lwt::map([](int) -> int { throw boom(); }, lwt::return_(1));
    REQUIRE_THROWS_AS(r.value(), boom);
}

TEST_CASE("catch_ handles a rejection and a synchronous throw of f") {
    auto p = lwt::catch_([] { return lwt::fail<int>(boom()); }, [](std::exception_ptr) { return lwt::return_(7); });
    REQUIRE(p.value() == 7);
    auto q = lwt::catch_([]() -> lwt::promise<int> { throw boom(); }, [](std::exception_ptr) { return lwt::return_(8); });
    REQUIRE(q.value() == 8);
    auto r = lwt::catch_([] { return lwt::return_(1); }, [](std::exception_ptr) { return lwt::return_(9); });
    REQUIRE(r.value() == 1);
}

TEST_CASE("try_bind calls the value or the exception handler") {
    auto ok = lwt::try_bind([] { return lwt::return_(2); }, [](int v) { return lwt::return_(v * 10); },
                            [](std::exception_ptr) { return lwt::return_(-1); });
    REQUIRE(ok.value() == 20);
    auto bad = lwt::try_bind([] { return lwt::fail<int>(boom()); }, [](int v) { return lwt::return_(v * 10); },
                             [](std::exception_ptr) { return lwt::return_(-1); });
    REQUIRE(bad.value() == -1);
}

TEST_CASE("finalize runs the cleanup after f settles, and gives f's outcome") {
    std::vector<std::string> log;
    auto w = lwt::wait<int>();
    auto p = lwt::finalize([&] { return w.first; },
                           [&] {
                               log.push_back("cleanup");
                               return lwt::return_();
                           });
    REQUIRE(log.empty());
    w.second.resolve(3);
    REQUIRE(log == std::vector<std::string>{"cleanup"});
    REQUIRE(p.value() == 3);
    auto q = lwt::finalize([] { return lwt::fail<int>(boom()); }, [] { return lwt::return_(); });
    REQUIRE_THROWS_AS(q.value(), boom);
}

TEST_CASE("the failure of finalize's cleanup wins over f's") {
    auto r = lwt::finalize([] { return lwt::fail<int>(boom()); },
                           [] { return lwt::fail(std::out_of_range("cleanup failed")); });
    REQUIRE_THROWS_AS(r.value(), std::out_of_range);
}

TEST_CASE("cancelling a bind reaches the promise it waits on, then the one its callback returned") {
    auto a = lwt::task<int>();
    auto p = lwt::bind(a.first, [](int v) { return lwt::return_(v); });
    lwt::cancel(p);
    REQUIRE(is_canceled(a.first));
    REQUIRE(is_canceled(p));

    auto b = lwt::wait<int>();
    auto inner = lwt::task<int>();
    auto q = lwt::bind(b.first, [&](int) { return inner.first; });
    b.second.resolve(0);
    lwt::cancel(q);
    REQUIRE(is_canceled(inner.first));
    REQUIRE(is_canceled(q));
}

TEST_CASE("finalize runs its cleanup when cancelled") {
    auto t = lwt::task<int>();
    bool cleaned = false;
    auto p = lwt::finalize([&] { return t.first; },
                           [&] {
                               cleaned = true;
                               return lwt::return_();
                           });
    lwt::cancel(p);
    REQUIRE(cleaned);
    REQUIRE(is_canceled(p));
}

TEST_CASE("bind keeps its callback alive until the result settles") {
    auto w = lwt::wait<int>();
    lwt::promise<int> p = lwt::return_(0);
    {
        auto captured = std::make_shared<int>(10);
        p = lwt::bind(w.first, [captured](int v) -> lwt::promise<int> {
            co_await lwt::return_();
            co_return v + *captured;
        });
    }
    w.second.resolve(1);
    REQUIRE(p.value() == 11);
}

TEST_CASE("the infix >>= is bind") {
    using namespace lwt::infix;
    auto p = (lwt::return_(1) >>= [](int v) { return lwt::return_(v + 1); }) >>= [](int v) {
        return lwt::return_(v * 10);
    };
    REQUIRE(p.value() == 20);
}

TEST_CASE("bind callbacks see the key values current when bind was called") {
    lwt::key<int> k;
    auto w = lwt::wait<int>();
    std::optional<int> seen;
    auto p = lwt::with_value(k, 9, [&] {
        return lwt::bind(w.first, [&](int) {
            seen = lwt::get(k);
            return lwt::return_();
        });
    });
    w.second.resolve(0);
    REQUIRE(seen == std::optional<int>(9));
}

TEST_CASE("cancelling a bind chain that ends up following itself returns and leaves it pending") {
    test::leaks_by_design cycle;  // the cycle is never freed
    auto w = lwt::wait<int>();
    std::optional<lwt::promise<int>> q;
    q = lwt::bind(w.first, [&](int) { return *q; });
    w.second.resolve(1);  // q now waits on itself: pending, as in Lwt
    REQUIRE(q->is_pending());
    lwt::cancel(*q);
    REQUIRE(q->is_pending());
}
