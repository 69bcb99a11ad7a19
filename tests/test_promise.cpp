// <lwt/promise.hpp>: the core's semantic rules (docs/semantics.md rules 1-3, 5, 6, 8, 10, 14), with no
// loop and no I/O.
#include <lwt/promise.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct boom : std::runtime_error {
    boom() : std::runtime_error("boom") {}
};
struct my_cancel : lwt::canceled {};

using test::hook_recorder;
using test::is_canceled;

}  // namespace

// ---------------------------------------------------------------------------------------
// Rule 1: a write-once cell.

TEST_CASE("wait gives a pending promise that its resolver fulfils") {
    auto w = lwt::wait<int>();
    auto& p = w.first;
    REQUIRE(p.state() == lwt::state::pending);
    REQUIRE(p.is_pending());
    w.second.resolve(7);
    REQUIRE(p.state() == lwt::state::fulfilled);
    REQUIRE(p.value() == 7);
    REQUIRE_FALSE(p.exception());
}

TEST_CASE("value() throws logic_error while the promise is pending") {
    auto w = lwt::wait<int>();
    REQUIRE_THROWS_AS(w.first.value(), std::logic_error);
    REQUIRE_FALSE(w.first.exception());
}

TEST_CASE("value() rethrows the rejection of a rejected promise") {
    auto w = lwt::wait<int>();
    w.second.reject(boom());
    REQUIRE(w.first.state() == lwt::state::rejected);
    REQUIRE_THROWS_AS(w.first.value(), boom);
    REQUIRE(w.first.exception());
}

TEST_CASE("return_ gives a fulfilled promise") {
    auto a = lwt::return_(42);
    REQUIRE(a.value() == 42);
    lwt::promise<void> v = lwt::return_();
    REQUIRE(v.state() == lwt::state::fulfilled);
    lwt::promise<std::string> s = lwt::return_("s");
    REQUIRE(s.value() == "s");
}

TEST_CASE("fail gives a rejected promise, from an exception or an exception_ptr") {
    auto f = lwt::fail<int>(boom());
    REQUIRE(f.state() == lwt::state::rejected);
    REQUIRE_THROWS_AS(f.value(), boom);
    auto g = lwt::fail<int>(std::make_exception_ptr(std::out_of_range("x")));
    REQUIRE_THROWS_AS(g.value(), std::out_of_range);
}

TEST_CASE("fail and reject keep the dynamic type of the exception being handled") {
    // Rejecting with the handled exception through a base-class reference keeps it whole.
    auto w = lwt::wait<int>();
    try {
        throw std::out_of_range("derived");
    } catch (const std::exception& e) {
        w.second.reject(e);
        auto h = lwt::fail<int>(e);
        REQUIRE_THROWS_AS(h.value(), std::out_of_range);
    }
    REQUIRE_THROWS_AS(w.first.value(), std::out_of_range);
    // A base-class reference to some other object is copied as it is typed.
    std::runtime_error other("plain");
    const std::exception& base = other;
    REQUIRE_THROWS_AS(lwt::fail<int>(base).value(), std::exception);
}

TEST_CASE("resolving a promise twice throws invalid_argument") {
    auto w = lwt::wait<int>();
    w.second.resolve(1);
    REQUIRE_THROWS_AS(w.second.resolve(2), std::invalid_argument);
    REQUIRE_THROWS_AS(w.second.reject(boom()), std::invalid_argument);
    REQUIRE_THROWS_AS(lwt::wakeup(w.second, 3), std::invalid_argument);
    REQUIRE(w.first.value() == 1);
}

TEST_CASE("resolving a promise that was cancelled is silently ignored") {
    auto t = lwt::task<int>();
    lwt::cancel(t.first);
    REQUIRE(is_canceled(t.first));
    REQUIRE_NOTHROW(t.second.resolve(5));
    REQUIRE_NOTHROW(lwt::wakeup_exn(t.second, boom()));
    REQUIRE(is_canceled(t.first));
}

TEST_CASE("copies of a promise and of a resolver share one cell") {
    auto w = lwt::wait<std::string>();
    lwt::promise<std::string> copy = w.first;
    lwt::resolver<std::string> r2 = w.second;
    r2.resolve("shared");
    REQUIRE(copy.value() == "shared");
    REQUIRE(copy == w.first);
}

TEST_CASE("an rvalue co_await moves a move-only value out") {
    auto w = lwt::wait<std::unique_ptr<int>>();
    auto c = [](lwt::promise<std::unique_ptr<int>> p) -> lwt::promise<int> {
        std::unique_ptr<int> v = co_await std::move(p);
        co_return *v;
    };
    auto q = c(w.first);
    w.second.resolve(std::make_unique<int>(9));
    REQUIRE(q.value() == 9);
}

TEST_CASE("a coroutine awaits a promise<void>") {
    auto v = lwt::wait<void>();
    auto d = [](lwt::promise<void> p) -> lwt::promise<void> { co_await p; };
    auto dq = d(v.first);
    REQUIRE(dq.is_pending());
    v.second.resolve();
    REQUIRE(dq.state() == lwt::state::fulfilled);
}

TEST_CASE("an lvalue co_await copies the value and leaves the promise readable") {
    auto p = lwt::return_(std::string("keep"));
    auto c = [](lwt::promise<std::string>& p) -> lwt::promise<std::string> {
        std::string a = co_await p;
        std::string b = co_await p;
        co_return a + b;
    };
    REQUIRE(c(p).value() == "keepkeep");
    REQUIRE(p.value() == "keep");
}

TEST_CASE("an rvalue co_await copies when other handles still see the value") {
    auto p = lwt::return_(std::string("shared"));
    auto c = [](lwt::promise<std::string> q) -> lwt::promise<std::string> { co_return co_await std::move(q); };
    REQUIRE(c(p).value() == "shared");
    REQUIRE(p.value() == "shared");
}

// ---------------------------------------------------------------------------------------
// Rule 2: eager.

TEST_CASE("a coroutine runs eagerly up to its first await of a pending promise") {
    int step = 0;
    auto w = lwt::wait<int>();
    auto c = [&](lwt::promise<int> x) -> lwt::promise<int> {
        step = 1;
        int v = co_await x;
        step = 2;
        co_return v + 1;
    };
    auto q = c(w.first);
    REQUIRE(step == 1);
    REQUIRE(q.is_pending());
    w.second.resolve(41);
    REQUIRE(step == 2);
    REQUIRE(q.value() == 42);
}

TEST_CASE("awaiting an already resolved promise does not suspend") {
    auto c = []() -> lwt::promise<int> {
        int a = co_await lwt::return_(1);
        int b = co_await lwt::return_(2);
        co_return a + b;
    };
    auto q = c();
    REQUIRE(q.state() == lwt::state::fulfilled);
    REQUIRE(q.value() == 3);
}

// ---------------------------------------------------------------------------------------
// Rule 3: synchronous continuations, wakeup_later deferral when nested.

TEST_CASE("waiters run inside the resolving call, before it returns") {
    auto w = lwt::wait<int>();
    int seen = 0;
    auto c = [&](lwt::promise<int> p) -> lwt::promise<void> { seen = co_await p; };
    auto q = c(w.first);
    lwt::on_success(w.first, [&](int v) { seen += v * 100; });
    w.second.resolve(3);
    REQUIRE(seen == 303);
    REQUIRE(q.state() == lwt::state::fulfilled);
}

TEST_CASE("every coroutine awaiting one promise is resumed") {
    auto w = lwt::wait<int>();
    int sum = 0;
    auto c = [&](lwt::promise<int> p) -> lwt::promise<void> { sum += co_await p; };
    std::vector<lwt::promise<void>> qs;
    for (int i = 0; i < 5; ++i) qs.push_back(c(w.first));
    w.second.resolve(2);
    REQUIRE(sum == 10);
}

TEST_CASE("a nested resolve (wakeup_later) sets the state at once but defers the waiters FIFO") {
    auto outer = lwt::wait<void>();
    auto a = lwt::wait<int>();
    auto b = lwt::wait<int>();
    std::vector<std::string> log;
    lwt::on_success(a.first, [&](int) { log.push_back("a"); });
    lwt::on_success(b.first, [&](int) { log.push_back("b"); });
    lwt::on_success(outer.first, [&] {
        a.second.resolve(1);
        b.second.resolve(2);
        REQUIRE(a.first.state() == lwt::state::fulfilled);
        REQUIRE(b.first.state() == lwt::state::fulfilled);
        log.push_back("outer callback done");
    });
    outer.second.resolve();
    REQUIRE(log == std::vector<std::string>{"outer callback done", "a", "b"});
}

TEST_CASE("a nested wakeup runs the waiters immediately") {
    auto outer = lwt::wait<void>();
    auto a = lwt::wait<int>();
    std::vector<std::string> log;
    lwt::on_success(a.first, [&](int) { log.push_back("a"); });
    lwt::on_success(outer.first, [&] {
        lwt::wakeup(a.second, 1);
        log.push_back("outer callback done");
    });
    lwt::wakeup(outer.second);
    REQUIRE(log == std::vector<std::string>{"a", "outer callback done"});
}

TEST_CASE("resolve outside any resolution runs the waiters before returning") {
    auto a = lwt::wait<int>();
    bool ran = false;
    lwt::on_success(a.first, [&](int) { ran = true; });
    lwt::wakeup_later(a.second, 1);
    REQUIRE(ran);
}

// ---------------------------------------------------------------------------------------
// Rule 5: exceptions.

TEST_CASE("an exception thrown in a coroutine becomes its rejection") {
    auto c = []() -> lwt::promise<int> {
        throw boom();
        co_return 1;
    };
    lwt::promise<int> q = lwt::return_(0);
    REQUIRE_NOTHROW(q = c());
    REQUIRE_THROWS_AS(q.value(), boom);
}

TEST_CASE("awaiting a rejected promise throws its exception inside the coroutine") {
    auto w = lwt::wait<int>();
    auto c = [](lwt::promise<int> p) -> lwt::promise<std::string> {
        try {
            co_await p;
        } catch (const boom& e) {
            co_return std::string("caught ") + e.what();
        }
        co_return "no";
    };
    auto q = c(w.first);
    w.second.reject(boom());
    REQUIRE(q.value() == "caught boom");
}

TEST_CASE("exceptions from callbacks go to async_exception_hook") {
    hook_recorder rec;
    auto w = lwt::wait<int>();
    lwt::on_success(w.first, [](int) { throw std::runtime_error("from on_success"); });
    lwt::on_termination(w.first, [] { throw std::runtime_error("from on_termination"); });
    w.second.resolve(1);
    REQUIRE(rec.seen.size() == 2);
}

TEST_CASE("on_success, on_failure, on_termination and on_any see the outcome, also when already settled") {
    std::vector<std::string> log;
    auto w = lwt::wait<int>();
    lwt::on_success(w.first, [&](int v) { log.push_back("success " + std::to_string(v)); });
    lwt::on_failure(w.first, [&](std::exception_ptr) { log.push_back("failure"); });
    lwt::on_termination(w.first, [&] { log.push_back("termination"); });
    lwt::on_any(w.first, [&](int) { log.push_back("any value"); }, [&](std::exception_ptr) { log.push_back("any exn"); });
    w.second.resolve(4);
    std::sort(log.begin(), log.end());
    REQUIRE(log == std::vector<std::string>{"any value", "success 4", "termination"});

    log.clear();
    auto f = lwt::fail<int>(boom());
    lwt::on_success(f, [&](int) { log.push_back("success"); });
    lwt::on_failure(f, [&](std::exception_ptr) { log.push_back("failure"); });
    lwt::on_any(f, [&](int) { log.push_back("any value"); }, [&](std::exception_ptr) { log.push_back("any exn"); });
    REQUIRE(log == std::vector<std::string>{"failure", "any exn"});
}

TEST_CASE("async runs f at once") {
    auto w = lwt::wait<void>();
    bool started = false, finished = false;
    lwt::async([&, p = w.first]() -> lwt::promise<void> {
        started = true;
        co_await p;
        finished = true;
    });
    REQUIRE(started);
    REQUIRE_FALSE(finished);
    w.second.resolve();
    REQUIRE(finished);
}

TEST_CASE("async hands f's rejection to async_exception_hook, late or at once") {
    hook_recorder rec;
    auto w = lwt::wait<void>();
    lwt::async([p = w.first]() -> lwt::promise<void> {
        co_await p;
        throw std::runtime_error("late failure");
    });
    REQUIRE(rec.seen.empty());
    w.second.resolve();
    REQUIRE(rec.seen == std::vector<std::string>{"late failure"});
    lwt::async([]() -> lwt::promise<void> { throw std::runtime_error("sync"); });
    REQUIRE(rec.seen.size() == 2);
}

TEST_CASE("dont_wait hands the rejection to its handler") {
    std::string got;
    lwt::dont_wait([]() -> lwt::promise<void> { return lwt::fail(boom()); },
                   [&](std::exception_ptr e) {
                       try {
                           std::rethrow_exception(e);
                       } catch (const boom& b) {
                           got = b.what();
                       }
                   });
    REQUIRE(got == "boom");
}

TEST_CASE("a capturing coroutine lambda given to async stays alive until its promise settles") {
    // Under AddressSanitizer, reading a capture after the lambda object died is an error.
    auto w = lwt::wait<int>();
    int result = 0;
    {
        auto big = std::make_shared<std::vector<int>>(100, 1);
        lwt::async([big, &result, p = w.first]() -> lwt::promise<void> {
            int v = co_await p;
            result = v + static_cast<int>(big->size());
        });
    }
    w.second.resolve(1);
    REQUIRE(result == 101);
}

namespace {
lwt::promise<void> awaits(lwt::promise<void> p) { co_await p; }
}  // namespace

TEST_CASE("async of a waiting coroutine holds one block beside the coroutine's frame") {
    // A server's connection started with async: keeping f and reporting its failure share one
    // node, so an idle connection costs its frame and that node.
    auto w = lwt::wait<void>();
    const auto before = lwt::detail::ctx.allocations;
    lwt::async([p = w.first] { return awaits(p); });
    REQUIRE(lwt::detail::ctx.allocations - before == 2);
    w.second.resolve();
}

TEST_CASE("dont_wait's handler runs with the key values current at the call, and its throw goes to the hook") {
    hook_recorder rec;
    lwt::key<int> k;
    auto w = lwt::wait<void>();
    std::optional<int> seen;
    lwt::with_value(k, 7, [&] {
        lwt::dont_wait([p = w.first]() -> lwt::promise<void> {
            co_await p;
            throw boom();
        },
                       [&](std::exception_ptr) {
                           seen = lwt::get(k);
                           throw std::runtime_error("from the handler");
                       });
    });
    lwt::with_value(k, 8, [&] { w.second.resolve(); });
    REQUIRE(seen == std::optional<int>(7));
    REQUIRE(rec.seen == std::vector<std::string>{"from the handler"});
}

// ---------------------------------------------------------------------------------------
// Rule 6: cancellation.

TEST_CASE("cancel rejects a task with lwt::canceled") {
    auto t = lwt::task<int>();
    lwt::cancel(t.first);
    REQUIRE(is_canceled(t.first));
}

TEST_CASE("cancel does nothing to a wait promise") {
    auto w = lwt::wait<int>();
    lwt::cancel(w.first);
    REQUIRE(w.first.is_pending());
    w.second.resolve(1);
    REQUIRE(w.first.value() == 1);
}

TEST_CASE("cancelling a resolved promise does nothing") {
    auto p = lwt::return_(3);
    lwt::cancel(p);
    REQUIRE(p.value() == 3);
}

TEST_CASE("cancel walks back through suspended coroutines to the task they await") {
    auto t = lwt::task<int>();
    auto inner = [](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await p + 1; };
    auto outer = [&](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await inner(p) + 1; };
    auto q = outer(t.first);
    lwt::cancel(q);
    REQUIRE(is_canceled(t.first));
    REQUIRE(is_canceled(q));
}

TEST_CASE("a coroutine sees lwt::canceled thrown from its co_await and may go on") {
    auto t = lwt::task<int>();
    auto c = [](lwt::promise<int> p) -> lwt::promise<std::string> {
        try {
            co_await p;
        } catch (const lwt::canceled&) {
            co_return "recovered";
        }
        co_return "not cancelled";
    };
    auto q = c(t.first);
    lwt::cancel(q);
    REQUIRE(q.value() == "recovered");
}

TEST_CASE("cancel of a coroutine waiting on a wait() promise does nothing") {
    auto w = lwt::wait<int>();
    auto c = [](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await p; };
    auto q = c(w.first);
    lwt::cancel(q);
    REQUIRE(q.is_pending());
    w.second.resolve(2);
    REQUIRE(q.value() == 2);
}

TEST_CASE("cancelling a coroutine that awaits its own promise returns and leaves it pending") {
    test::leaks_by_design cycle;  // the cycle is never freed
    auto go = lwt::wait<void>();
    std::optional<lwt::promise<void>> self;
    auto c = [&]() -> lwt::promise<void> {
        co_await go.first;
        co_await *self;  // as in Lwt, a promise waiting on itself stays pending
    };
    self = c();
    go.second.resolve();
    REQUIRE(self->is_pending());
    lwt::cancel(*self);
    REQUIRE(self->is_pending());
}

TEST_CASE("cancel through a cycle of coroutines and combinators reaches every task once and returns") {
    test::leaks_by_design cycle;  // the cycle is never freed
    auto go = lwt::wait<void>();
    auto t = lwt::task<void>();
    std::optional<lwt::promise<void>> self;
    auto c = [&]() -> lwt::promise<void> {
        co_await go.first;
        co_await lwt::join(t.first, *self, t.first);
    };
    self = c();
    go.second.resolve();
    lwt::cancel(*self);
    REQUIRE(is_canceled(t.first));
    REQUIRE(self->is_pending());  // join still waits for the cycle
}

TEST_CASE("cancelling a chain of a hundred thousand coroutines reaches the task at its end") {
    auto t = lwt::task<int>();
    std::vector<lwt::promise<int>> chain;
    chain.reserve(100'000);
    auto link = [](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await p; };
    chain.push_back(link(t.first));
    for (int i = 1; i < 100'000; ++i) chain.push_back(link(chain.back()));
    lwt::cancel(chain.back());
    REQUIRE(is_canceled(t.first));
    REQUIRE(is_canceled(chain.back()));
}

TEST_CASE("a rejection with a type derived from lwt::canceled counts as cancellation") {
    auto w = lwt::wait<int>();
    bool cancel_cb = false;
    lwt::on_cancel(w.first, [&] { cancel_cb = true; });
    w.second.reject(my_cancel());
    REQUIRE(cancel_cb);
    REQUIRE_NOTHROW(w.second.resolve(1));  // ignored: already cancelled
}

TEST_CASE("on_cancel callbacks run before the other waiters") {
    auto t = lwt::task<int>();
    std::vector<std::string> log;
    lwt::on_failure(t.first, [&](std::exception_ptr) { log.push_back("failure"); });
    auto c = [&](lwt::promise<int> p) -> lwt::promise<void> {
        try {
            co_await p;
        } catch (const lwt::canceled&) {
            log.push_back("coroutine");
        }
    };
    auto q = c(t.first);
    lwt::on_cancel(t.first, [&] { log.push_back("on_cancel"); });
    lwt::cancel(t.first);
    REQUIRE(log.size() == 3);
    REQUIRE(log[0] == "on_cancel");
}

TEST_CASE("on_cancel of an already cancelled promise runs at once") {
    auto t = lwt::task<int>();
    lwt::cancel(t.first);
    bool ran = false;
    lwt::on_cancel(t.first, [&] { ran = true; });
    REQUIRE(ran);
}

TEST_CASE("on_cancel of a promise that is fulfilled never runs") {
    bool ran2 = false;
    auto w = lwt::wait<int>();
    lwt::on_cancel(w.first, [&] { ran2 = true; });
    w.second.resolve(1);
    REQUIRE_FALSE(ran2);
}

TEST_CASE("protected_ stops cancellation: only the protected promise is rejected") {
    auto t = lwt::task<int>();
    auto p = lwt::protected_(t.first);
    lwt::cancel(p);
    REQUIRE(is_canceled(p));
    REQUIRE(t.first.is_pending());
    t.second.resolve(1);
    REQUIRE(is_canceled(p));
    // A coroutine awaiting the protected promise is reached, the task behind it is not.
    auto t2 = lwt::task<int>();
    auto c = [](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await lwt::protected_(p); };
    auto q = c(t2.first);
    lwt::cancel(q);
    REQUIRE(is_canceled(q));
    REQUIRE(t2.first.is_pending());
}

TEST_CASE("protected_ follows its input when the input settles") {
    auto w = lwt::wait<int>();
    auto p = lwt::protected_(w.first);
    w.second.resolve(8);
    REQUIRE(p.value() == 8);
    auto settled = lwt::return_(1);
    REQUIRE(lwt::protected_(settled) == settled);
}

TEST_CASE("no_cancel ignores cancel") {
    auto t = lwt::task<int>();
    auto p = lwt::no_cancel(t.first);
    lwt::cancel(p);
    REQUIRE(p.is_pending());
    REQUIRE(t.first.is_pending());
    t.second.resolve(2);
    REQUIRE(p.value() == 2);
}

TEST_CASE("no_cancel follows a cancelled input") {
    auto t = lwt::task<int>();
    auto p = lwt::no_cancel(t.first);
    lwt::cancel(t.first);
    REQUIRE(is_canceled(p));
}

TEST_CASE("wrap_in_cancelable is cancelable and cancels its input too") {
    auto w = lwt::wait<int>();
    auto p = lwt::wrap_in_cancelable(w.first);
    lwt::cancel(p);
    REQUIRE(is_canceled(p));
    REQUIRE(w.first.is_pending());  // a wait() promise cannot be cancelled
    w.second.resolve(1);
    REQUIRE(is_canceled(p));
    auto t = lwt::task<int>();
    auto q = lwt::wrap_in_cancelable(t.first);
    lwt::cancel(q);
    REQUIRE(is_canceled(t.first));
    REQUIRE(is_canceled(q));
}

TEST_CASE("cancel walks through join to every pending input") {
    auto a = lwt::task<void>();
    auto b = lwt::task<void>();
    auto c = lwt::wait<void>();
    auto j = lwt::join(a.first, b.first, c.first);
    lwt::cancel(j);
    REQUIRE(is_canceled(a.first));
    REQUIRE(is_canceled(b.first));
    REQUIRE(c.first.is_pending());
    REQUIRE(j.is_pending());  // join still waits for c
    c.second.resolve();
    REQUIRE(is_canceled(j));
}

// ---------------------------------------------------------------------------------------
// Rule 8: combinators.

TEST_CASE("join waits for every input") {
    auto a = lwt::wait<void>();
    auto b = lwt::wait<void>();
    auto j = lwt::join({a.first, b.first});
    b.second.resolve();
    REQUIRE(j.is_pending());
    a.second.resolve();
    REQUIRE(j.state() == lwt::state::fulfilled);
    REQUIRE(lwt::join(std::vector<lwt::promise<void>>{}).state() == lwt::state::fulfilled);
}

TEST_CASE("join rejects with the first rejection in time, once every input settled") {
    auto a = lwt::wait<void>();
    auto b = lwt::wait<void>();
    auto c = lwt::wait<void>();
    auto j = lwt::join({a.first, b.first, c.first});
    c.second.reject(std::out_of_range("c first"));
    a.second.reject(boom());
    REQUIRE(j.is_pending());
    b.second.resolve();
    REQUIRE_THROWS_AS(j.value(), std::out_of_range);
}

TEST_CASE("all gives the values in input order") {
    auto a = lwt::wait<int>();
    auto b = lwt::wait<int>();
    auto al = lwt::all(std::vector<lwt::promise<int>>{a.first, b.first, lwt::return_(3)});
    b.second.resolve(2);
    REQUIRE(al.is_pending());
    a.second.resolve(1);
    REQUIRE(al.value() == std::vector<int>{1, 2, 3});
    REQUIRE(lwt::all({lwt::return_(4), lwt::return_(5)}).value() == std::vector<int>{4, 5});  // a braced list
}

TEST_CASE("both gives the pair of values, or the rejection") {
    auto x = lwt::wait<std::string>();
    auto bo = lwt::both(lwt::return_(1), x.first);
    x.second.resolve("two");
    REQUIRE(bo.value() == std::pair<int, std::string>(1, "two"));
    auto bad = lwt::both(lwt::fail<int>(boom()), lwt::return_(1));
    REQUIRE_THROWS_AS(bad.value(), boom);
}

TEST_CASE("all of move-only values moves them into the vector") {
    auto a = lwt::wait<std::unique_ptr<int>>();
    auto al = lwt::all(std::vector<lwt::promise<std::unique_ptr<int>>>{a.first});
    a.second.resolve(std::make_unique<int>(5));
    REQUIRE(*al.value()[0] == 5);
}

TEST_CASE("pick resolves with the first input to settle and cancels the losers before its waiters run") {
    auto a = lwt::task<int>();
    auto b = lwt::task<int>();
    auto p = lwt::pick({a.first, b.first});
    bool b_canceled_when_waiter_ran = false;
    lwt::on_success(p, [&](int) { b_canceled_when_waiter_ran = is_canceled(b.first); });
    a.second.resolve(1);
    REQUIRE(p.value() == 1);
    REQUIRE(b_canceled_when_waiter_ran);
}

TEST_CASE("pick and choose with several inputs already resolved prefer a rejected one") {
    auto p = lwt::pick(lwt::return_(1), lwt::fail<int>(boom()), lwt::return_(3));
    REQUIRE_THROWS_AS(p.value(), boom);
    auto c = lwt::choose({lwt::return_(1), lwt::fail<int>(boom())});
    REQUIRE_THROWS_AS(c.value(), boom);
}

TEST_CASE("pick with an input already resolved resolves at once and cancels the others") {
    auto t = lwt::task<int>();
    auto q = lwt::pick(t.first, lwt::return_(4));
    REQUIRE(q.value() == 4);
    REQUIRE(is_canceled(t.first));
}

TEST_CASE("choose resolves with the first input and cancels nothing") {
    auto a = lwt::task<int>();
    auto b = lwt::task<int>();
    auto c = lwt::choose(a.first, b.first);
    b.second.resolve(2);
    REQUIRE(c.value() == 2);
    REQUIRE(a.first.is_pending());
}

TEST_CASE("pick, choose, npick, nchoose and nchoose_split of an empty list throw invalid_argument") {
    std::vector<lwt::promise<int>> none;
    REQUIRE_THROWS_AS(lwt::pick(none), std::invalid_argument);
    REQUIRE_THROWS_AS(lwt::choose(none), std::invalid_argument);
    REQUIRE_THROWS_AS(lwt::npick(none), std::invalid_argument);
    REQUIRE_THROWS_AS(lwt::nchoose(none), std::invalid_argument);
    REQUIRE_THROWS_AS(lwt::nchoose_split(none), std::invalid_argument);
}

TEST_CASE("cancelling pick cancels every input") {
    auto a = lwt::task<int>();
    auto b = lwt::task<int>();
    auto p = lwt::pick(a.first, b.first);
    lwt::cancel(p);
    REQUIRE(is_canceled(a.first));
    REQUIRE(is_canceled(b.first));
    REQUIRE(is_canceled(p));
}

TEST_CASE("nchoose gives every value fulfilled when the first input settles") {
    auto a = lwt::wait<int>();
    auto b = lwt::wait<int>();
    auto n = lwt::nchoose({a.first, b.first, lwt::return_(3)});
    REQUIRE(n.value() == std::vector<int>{3});
    auto r = lwt::nchoose({lwt::return_(1), lwt::fail<int>(boom())});
    REQUIRE_THROWS_AS(r.value(), boom);
}

TEST_CASE("npick gives every value fulfilled when the first input settles and cancels the rest") {
    auto x = lwt::wait<int>();
    auto y = lwt::task<int>();
    auto m = lwt::npick({x.first, y.first});
    x.second.resolve(1);
    REQUIRE(m.value() == std::vector<int>{1});
    REQUIRE(is_canceled(y.first));
}

TEST_CASE("nchoose_split separates the fulfilled values from the pending promises") {
    auto a = lwt::wait<int>();
    auto b = lwt::wait<int>();
    auto s = lwt::nchoose_split({a.first, b.first});
    b.second.resolve(2);
    auto [values, pending] = s.value();
    REQUIRE(values == std::vector<int>{2});
    REQUIRE(pending.size() == 1);
    REQUIRE(pending[0] == a.first);
}

TEST_CASE("a combinator nobody holds any more unlinks itself from its inputs") {
    auto a = lwt::wait<int>();
    {
        auto p = lwt::choose(a.first, a.first);
        auto j = lwt::all(std::vector<lwt::promise<int>>{a.first});
    }
    a.second.resolve(1);  // must not touch the freed combinators (ASan)
    REQUIRE(a.first.value() == 1);
}

// ---------------------------------------------------------------------------------------
// Rule 10: keys.

TEST_CASE("get sees with_value's binding inside f and the previous one after") {
    lwt::key<std::string> k;
    REQUIRE_FALSE(lwt::get(k).has_value());
    std::optional<std::string> inside;
    lwt::with_value(k, "v", [&] { inside = lwt::get(k); });
    REQUIRE(inside == std::optional<std::string>("v"));
    REQUIRE_FALSE(lwt::get(k).has_value());
    lwt::with_value(k, std::optional<std::string>("outer"), [&] {
        lwt::with_value(k, std::nullopt, [&] { inside = lwt::get(k); });
        REQUIRE(lwt::get(k) == std::optional<std::string>("outer"));
    });
    REQUIRE_FALSE(inside.has_value());
}

TEST_CASE("with_value restores the previous binding when f throws, and f's exception propagates") {
    lwt::key<int> k;
    REQUIRE_THROWS_AS(lwt::with_value(k, 1, []() -> int { throw boom(); }), boom);
    REQUIRE_FALSE(lwt::get(k).has_value());
}

TEST_CASE("a coroutine created inside with_value sees the binding after each co_await") {
    lwt::key<int> k;
    auto w = lwt::wait<void>();
    std::vector<std::optional<int>> seen;
    auto c = [&](lwt::promise<void> p) -> lwt::promise<void> {
        seen.push_back(lwt::get(k));
        co_await p;
        seen.push_back(lwt::get(k));
    };
    auto q = lwt::with_value(k, 5, [&] { return c(w.first); });
    REQUIRE_FALSE(lwt::get(k).has_value());
    lwt::with_value(k, 6, [&] { w.second.resolve(); });  // resumed under another binding
    REQUIRE(seen == std::vector<std::optional<int>>{5, 5});
    REQUIRE_FALSE(lwt::get(k).has_value());
}

TEST_CASE("callbacks see the key values current when they were registered") {
    lwt::key<int> k;
    auto w = lwt::wait<int>();
    std::optional<int> seen;
    lwt::with_value(k, 3, [&] { lwt::on_success(w.first, [&](int) { seen = lwt::get(k); }); });
    w.second.resolve(0);
    REQUIRE(seen == std::optional<int>(3));
}

TEST_CASE("on_cancel callbacks see the key values current when they were registered") {
    lwt::key<int> k;
    auto t = lwt::task<int>();
    std::optional<int> seen;
    lwt::with_value(k, 4, [&] { lwt::on_cancel(t.first, [&] { seen = lwt::get(k); }); });
    lwt::with_value(k, 8, [&] { lwt::cancel(t.first); });  // cancelled under another binding
    REQUIRE(seen == std::optional<int>(4));
    REQUIRE_FALSE(lwt::get(k).has_value());
}
