// <lwt/direct.hpp>: Lwt_direct's spawn, spawn_in_the_background and yield (rule 11).
#include <lwt/direct.hpp>
#include <lwt/main.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <memory>
#include <string>
#include <vector>

namespace {
using test::is_canceled;
}  // namespace

TEST_CASE("spawn starts the task on the next loop iteration, in spawn order") {
    std::vector<int> log;
    auto a = lwt::direct::spawn([&]() -> lwt::promise<int> {
        log.push_back(1);
        co_return 1;
    });
    auto b = lwt::direct::spawn([&]() -> lwt::promise<int> {
        log.push_back(2);
        co_return 2;
    });
    REQUIRE(log.empty());
    REQUIRE(a.is_pending());
    REQUIRE(lwt::main::run(b) == 2);
    REQUIRE(log == std::vector<int>{1, 2});
    REQUIRE(a.value() == 1);
}

TEST_CASE("a spawned task awaits with co_await like any coroutine") {
    auto w = lwt::wait<int>();
    auto t = lwt::direct::spawn([p = w.first]() -> lwt::promise<int> { co_return co_await p * 2; });
    auto feeder = lwt::direct::spawn([r = w.second]() -> lwt::promise<void> {
        co_await lwt::direct::yield();
        r.resolve(21);
    });
    REQUIRE(lwt::main::run(t) == 42);
}

TEST_CASE("a spawned task sees the key values current at the spawn call") {
    lwt::key<std::string> k;
    auto t = lwt::with_value(k, "at spawn", [&] {
        return lwt::direct::spawn([&]() -> lwt::promise<std::string> {
            co_await lwt::direct::yield();
            co_return lwt::get(k).value_or("none");
        });
    });
    REQUIRE(lwt::main::run(t) == "at spawn");
}

TEST_CASE("cancelling a spawned task before it starts rejects it at once and f never runs") {
    bool ran = false;
    auto t = lwt::direct::spawn([&]() -> lwt::promise<void> {
        ran = true;
        co_return;
    });
    lwt::cancel(t);
    REQUIRE(is_canceled(t));
    lwt::main::run(lwt::pause());
    REQUIRE_FALSE(ran);
}

TEST_CASE("cancelling a running spawned task reaches the promise it awaits") {
    auto inner = lwt::task<int>();
    bool started = false;
    auto t = lwt::direct::spawn([&]() -> lwt::promise<int> {
        started = true;
        co_return co_await inner.first;
    });
    lwt::main::run(lwt::pause());
    REQUIRE(started);
    lwt::cancel(t);
    REQUIRE(is_canceled(inner.first));
    REQUIRE(is_canceled(t));
}

TEST_CASE("spawn keeps its callable and captures alive until the task ends") {
    auto w = lwt::wait<int>();
    lwt::promise<int> t = lwt::return_(0);
    {
        auto owned = std::make_unique<int>(40);
        t = lwt::direct::spawn([owned = std::move(owned), p = w.first]() -> lwt::promise<int> {
            int v = co_await p;
            co_return v + *owned;
        });
    }
    lwt::main::run(lwt::pause());
    w.second.resolve(2);
    REQUIRE(t.value() == 42);
}

TEST_CASE("spawn_in_the_background hands a failure to async_exception_hook") {
    std::vector<std::string> seen;
    auto saved = lwt::async_exception_hook;
    lwt::async_exception_hook = [&](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            seen.emplace_back(x.what());
        }
    };
    lwt::direct::spawn_in_the_background([]() -> lwt::promise<void> {
        co_await lwt::direct::yield();
        throw std::runtime_error("background");
    });
    lwt::main::run(lwt::direct::spawn([]() -> lwt::promise<void> {
        co_await lwt::direct::yield();
        co_await lwt::direct::yield();
    }));
    lwt::async_exception_hook = saved;
    REQUIRE(seen == std::vector<std::string>{"background"});
}
