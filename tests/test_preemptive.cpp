// <lwt/preemptive.hpp>: Lwt_preemptive -- blocking work on worker threads, results on the loop.
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

using namespace lwt;

TEST_CASE("detach runs f on another thread and resolves on the loop with its result") {
    auto loop_thread = std::this_thread::get_id();
    std::thread::id worker;
    auto p = preemptive::detach([&worker](int a, int b) {
        worker = std::this_thread::get_id();
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        return a + b;
    }, 40, 2);
    REQUIRE(p.is_pending());
    REQUIRE(main::run(p) == 42);
    REQUIRE(worker != loop_thread);
}

TEST_CASE("detach rejects with the exception f threw") {
    auto p = preemptive::detach([]() -> int { throw std::out_of_range("in worker"); });
    REQUIRE_THROWS_AS(main::run(p), std::out_of_range);
}

TEST_CASE("detach of a void function resolves once f has run") {
    std::atomic<int> hits{0};
    main::run(preemptive::detach([&] { hits++; }));
    REQUIRE(hits == 1);
}

TEST_CASE("many concurrent jobs all come back to the loop") {
    std::vector<promise<int>> ps;
    for (int i = 0; i < 200; ++i) ps.push_back(preemptive::detach([i] { return i * 2; }));
    auto all = main::run(lwt::all(ps));
    for (int i = 0; i < 200; ++i) REQUIRE(all[static_cast<std::size_t>(i)] == i * 2);
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("run_in_main lets a worker run lwt code on the loop and wait for its result") {
    auto loop_thread = std::this_thread::get_id();
    auto p = preemptive::detach([loop_thread] {
        std::thread::id where;
        int v = preemptive::run_in_main([&]() -> promise<int> {
            where = std::this_thread::get_id();
            co_await unix_::sleep(0.001);
            co_return 5;
        });
        int w = preemptive::run_in_main([] { return 6; });  // a plain value works too
        bool failed = false;
        try {
            preemptive::run_in_main([]() -> promise<void> { throw std::out_of_range("main failed"); });
        } catch (const std::out_of_range&) {
            failed = true;
        }
        return where == loop_thread && failed ? v * w : -1;
    });
    REQUIRE(main::run(p) == 30);
}

TEST_CASE("run_in_main outside a worker is a logic_error") {
    REQUIRE_THROWS_AS(preemptive::run_in_main([] { return 1; }), std::logic_error);
}

TEST_CASE("set_bounds refuses impossible bounds with std::invalid_argument") {
    REQUIRE_THROWS_AS(preemptive::set_bounds(-1, 4), std::invalid_argument);
    REQUIRE_THROWS_AS(preemptive::set_bounds(2, 1), std::invalid_argument);
    REQUIRE_THROWS_AS(preemptive::set_bounds(0, 0), std::invalid_argument);
}

TEST_CASE("set_bounds is reported back by get_bounds and bounds the worker threads") {
    auto saved = preemptive::get_bounds();
    preemptive::set_bounds(1, 3);
    REQUIRE(preemptive::get_bounds() == std::pair<int, int>(1, 3));
    // With at most 3 workers, 6 sleeping jobs still all complete.
    std::vector<promise<void>> ps;
    for (int i = 0; i < 6; ++i) ps.push_back(preemptive::detach([] { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }));
    main::run(join(std::move(ps)));
    REQUIRE(preemptive::thread_count() <= 3);
    preemptive::set_bounds(saved.first, saved.second);
}

TEST_CASE("notifications sent from other threads run on the loop") {
    int count = 0;
    auto loop_thread = std::this_thread::get_id();
    bool on_loop = true;
    auto w = wait<void>();
    int id = unix_::make_notification([&] {
        on_loop &= std::this_thread::get_id() == loop_thread;
        if (++count == 3) w.second.resolve();
    });
    std::thread t([id] {
        for (int i = 0; i < 3; ++i) {
            unix_::send_notification(id);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    });
    main::run(w.first);
    t.join();
    unix_::stop_notification(id);
    REQUIRE(count == 3);
    REQUIRE(on_loop);
}
