// <lwt/main.hpp>: Lwt_main -- run, yield, at_exit, the iteration hooks (rules 9 and 16).
#include <lwt/bind.hpp>
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

TEST_CASE("run returns the value of the promise once it settles") {
    REQUIRE(lwt::main::run(lwt::return_(5)) == 5);
    auto p = [](lwt::promise<void> s) -> lwt::promise<std::string> {
        co_await s;
        co_return "after sleep";
    }(lwt::unix_::sleep(0.001));
    REQUIRE(lwt::main::run(p) == "after sleep");
}

TEST_CASE("run rethrows the rejection of the promise") {
    REQUIRE_THROWS_AS(lwt::main::run(lwt::fail<int>(std::out_of_range("at once"))), std::out_of_range);
    auto f = [](lwt::promise<void> s) -> lwt::promise<int> {
        co_await s;
        throw std::out_of_range("late");
    }(lwt::pause());
    REQUIRE_THROWS_AS(lwt::main::run(f), std::out_of_range);
}

TEST_CASE("run of a settled promise returns without iterating") {
    int iterations = 0;
    auto h = lwt::main::enter_iter_hooks().add_last([&] { ++iterations; });
    auto pz = lwt::pause();
    REQUIRE(lwt::main::run(lwt::return_(1)) == 1);
    REQUIRE(iterations == 0);
    REQUIRE(pz.is_pending());
    lwt::main::run(pz);  // the pause is served by the next run
    lwt::main::enter_iter_hooks().remove(h);
    REQUIRE(iterations == 1);
}

TEST_CASE("a nested run throws logic_error") {
    auto outer = [](lwt::promise<void> s) -> lwt::promise<std::string> {
        co_await s;
        try {
            lwt::main::run(lwt::return_(1));
        } catch (const std::logic_error&) {
            co_return "nested run refused";
        }
        co_return "nested run allowed";
    }(lwt::pause());
    REQUIRE(lwt::main::run(outer) == "nested run refused");
    std::string inside;
    lwt::main::run([&]() -> lwt::promise<void> {
        try {
            lwt::main::run(lwt::return_(1));
        } catch (const std::logic_error&) {
            inside = "refused";
        }
        co_return;
    });
    REQUIRE(inside == "refused");
}

TEST_CASE("run throws logic_error instead of blocking when nothing can settle the promise") {
    auto w = lwt::wait<int>();
    REQUIRE_THROWS_AS(lwt::main::run(w.first), std::logic_error);
    auto c = [](lwt::promise<int> p) -> lwt::promise<int> { co_return co_await p; }(w.first);
    REQUIRE_THROWS_AS(lwt::main::run(c), std::logic_error);
}

TEST_CASE("run(f) calls f inside the run and keeps its captures alive") {
    auto owned = std::make_shared<int>(41);
    int v = lwt::main::run([owned]() -> lwt::promise<int> {
        co_await lwt::main::yield();
        co_return *owned + 1;
    });
    REQUIRE(v == 42);
}

TEST_CASE("pauses are woken once per iteration in FIFO order; a pause made while waking waits") {
    std::vector<std::string> log;
    int iteration = 0;
    auto h = lwt::main::leave_iter_hooks().add_last([&] { ++iteration; });
    // Named lambdas: a coroutine lambda's captures live in the closure object, which must
    // outlive the coroutine (an immediately invoked temporary would not).
    auto fa = [&](lwt::promise<void> p) -> lwt::promise<void> {
        co_await p;
        log.push_back("a@" + std::to_string(iteration));
        co_await lwt::pause();  // created while waking: next iteration
        log.push_back("a2@" + std::to_string(iteration));
    };
    auto fb = [&](lwt::promise<void> p) -> lwt::promise<void> {
        co_await p;
        log.push_back("b@" + std::to_string(iteration));
    };
    auto a = fa(lwt::pause());
    auto b = fb(lwt::pause());
    lwt::main::run(lwt::join(a, b));
    lwt::main::leave_iter_hooks().remove(h);
    REQUIRE(log == std::vector<std::string>{"a@0", "b@0", "a2@1"});
}

TEST_CASE("pause() is cancelable") {
    auto p = lwt::pause();
    lwt::cancel(p);
    REQUIRE(test::is_canceled(p));
}

TEST_CASE("main::yield is a pause") {
    auto y = lwt::main::yield();
    REQUIRE(y.is_pending());
    lwt::main::run(y);
    REQUIRE(y.state() == lwt::state::fulfilled);
}

TEST_CASE("enter and leave hooks run around every iteration and can be removed") {
    std::vector<std::string> log;
    auto e = lwt::main::enter_iter_hooks().add_last([&] { log.push_back("enter"); });
    auto l = lwt::main::leave_iter_hooks().add_first([&] { log.push_back("leave"); });
    lwt::main::run(lwt::pause());
    lwt::main::enter_iter_hooks().remove(e);
    lwt::main::leave_iter_hooks().remove(l);
    lwt::main::run(lwt::pause());
    REQUIRE(log == std::vector<std::string>{"enter", "leave"});
}

TEST_CASE("at_exit hooks run LIFO when the thread exits") {
    std::vector<std::string> log;
    std::thread([&] {
        lwt::main::at_exit([&]() -> lwt::promise<void> {
            log.push_back("first registered");
            co_return;
        });
        lwt::main::at_exit([&]() -> lwt::promise<void> {
            co_await lwt::unix_::sleep(0.001);  // hooks may wait: each runs in a loop
            log.push_back("second registered");
        });
        lwt::main::run(lwt::pause());
    }).join();
    REQUIRE(log == std::vector<std::string>{"second registered", "first registered"});
}

TEST_CASE("at_exit hooks also run when the program exits from inside run") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        // A thread of its own: the child must not use the parent's engine (its ring).
        std::thread([w = fds[1]] {
            lwt::unix_::file_descr out(w);
            lwt::main::at_exit([&]() -> lwt::promise<void> {
                co_await lwt::unix_::sleep(0.001);
                co_await lwt::unix_::write(out, "hook ran", 8);
            });
            lwt::main::run([]() -> lwt::promise<void> {
                co_await lwt::unix_::sleep(0.001);
                std::exit(0);
            });
            ::_exit(3);  // not reached
        }).join();
        ::_exit(4);
    }
    ::close(fds[1]);
    std::string got;
    char buf[64];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    REQUIRE(got == "hook ran");
}

TEST_CASE("sleeps and pauses made before run are served by the next run") {
    auto s = lwt::unix_::sleep(0.002);
    auto p = lwt::pause();
    lwt::main::run(lwt::join(s, p));
    REQUIRE(s.state() == lwt::state::fulfilled);
}

TEST_CASE("run_program gives the exit status of the program's promise: its int, or 0") {
    REQUIRE(lwt::main::run_program(lwt::return_(7)) == 7);
    REQUIRE(lwt::main::run_program([]() -> lwt::promise<void> { co_await lwt::pause(); }) == 0);
    REQUIRE(lwt::main::run_program([] { return 3; }) == 3);  // a main that runs no promise itself
}

TEST_CASE("run_program prints a failure as one line naming the program and returns 2") {
    auto [err, status] = test::with_stderr_captured([] {
        return lwt::main::run_program([]() -> lwt::promise<void> {
            co_await lwt::pause();
            throw lwt::unix_::unix_error(EADDRINUSE, "bind", "127.0.0.1:8080");
        });
    });
    REQUIRE(status == 2);
    REQUIRE(err == std::string(program_invocation_short_name) + ": bind(127.0.0.1:8080): Address already in use\n");
    auto [err2, status2] = test::with_stderr_captured([] { return lwt::main::run_program([]() -> int { throw 42; }); });
    REQUIRE(status2 == 2);
    REQUIRE(err2 == std::string(program_invocation_short_name) + ": an exception that is not a std::exception\n");
}

namespace {

// A read of one byte on a pipe, pending until the other end writes (so that it completes
// through the loop, not at the call).
struct pipe_pair {
    std::pair<lwt::unix_::file_descr, lwt::unix_::file_descr> p = lwt::unix_::pipe();
    lwt::unix_::file_descr& r = p.first;
    lwt::unix_::file_descr& w = p.second;
};

void spin_for(std::chrono::milliseconds d) {
    auto until = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < until) {
    }
}

}  // namespace

TEST_CASE("stats count the loop's iterations (a kernel wait each), submissions and completions") {
    pipe_pair pp;
    const auto before = lwt::main::stats();
    lwt::main::run([&]() -> lwt::promise<void> {
        char c;
        for (int i = 0; i < 10; ++i) {
            auto r = lwt::promise<std::size_t>(lwt::unix_::read(pp.r, &c, 1));
            co_await lwt::pause();  // (the read waits in the engine meanwhile)
            REQUIRE(lwt::main::stats().live_operations >= 1);
            REQUIRE(::write(pp.w.fd(), "x", 1) == 1);
            co_await r;
        }
        auto nap = lwt::unix_::sleep(0.001);
        REQUIRE(lwt::main::stats().live_timers >= 1);
        co_await nap;
    });
    const auto after = lwt::main::stats();
    REQUIRE(after.iterations - before.iterations >= 10);
    REQUIRE(after.submitted - before.submitted >= 10);
    REQUIRE(after.completions - before.completions >= 10);
    REQUIRE(after.live_operations == 0);
    REQUIRE(after.engine == std::string(lwt::engine::id()));
    const std::string line = after.to_string();
    REQUIRE(line.find("iterations") != std::string::npos);
    REQUIRE(line.find(after.engine) != std::string::npos);
}

TEST_CASE("a stall prints one line: how long the iteration ran, and the operation and coroutine of its longest step") {
    pipe_pair pp;
    lwt::main::set_stall_threshold(std::chrono::milliseconds(20));
    const auto before = lwt::main::stats();
    REQUIRE(before.timed);
    auto [err, status] = test::with_stderr_captured([&] {
        auto writer = [&]() -> lwt::promise<void> {
            co_await lwt::pause();
            REQUIRE(::write(pp.w.fd(), "x", 1) == 1);
        };
        lwt::main::run([&]() -> lwt::promise<void> {
            char c;
            auto w = writer();
            co_await lwt::unix_::read(pp.r, &c, 1);  // (awaited where it is made: its completion resumes us)
            spin_for(std::chrono::milliseconds(60));  // runs inside the read's completion
            co_await lwt::pause();                    // the next iteration measures the last
            co_await lwt::pause();
            co_await w;
        });
        return 0;
    });
    const auto after = lwt::main::stats();
    lwt::main::set_stall_threshold(std::chrono::nanoseconds(0));
    REQUIRE(after.stalls - before.stalls == 1);
    REQUIRE(after.longest_iteration >= std::chrono::milliseconds(60));
    INFO(err);
    REQUIRE(err.rfind("lwt: stall: a loop iteration ran ", 0) == 0);
    REQUIRE(err.find("(threshold 20.0 ms)") != std::string::npos);
    REQUIRE(err.find("was the completion of a read on fd " + std::to_string(pp.r.fd())) != std::string::npos);
    REQUIRE(err.find(", which resumed ") != std::string::npos);
    REQUIRE(std::count(err.begin(), err.end(), '\n') == 1);
    REQUIRE_FALSE(lwt::main::stats().timed);
}

TEST_CASE("without a stall threshold nothing is timed or printed") {
    lwt::main::set_stall_threshold(std::chrono::nanoseconds(0));
    auto [err, status] = test::with_stderr_captured([] {
        lwt::main::run([]() -> lwt::promise<void> {
            co_await lwt::pause();
            spin_for(std::chrono::milliseconds(30));
            co_await lwt::pause();
        });
        return 0;
    });
    REQUIRE(err.empty());
    REQUIRE_FALSE(lwt::main::stats().timed);
    REQUIRE_THROWS_AS(lwt::main::set_stall_threshold(std::chrono::nanoseconds(-1)), std::invalid_argument);
}

namespace {

lwt::promise<int> relay(lwt::promise<int> p) { co_return co_await p; }

}  // namespace

TEST_CASE("the error of a promise that can never settle is preceded by the tree of what it waits on") {
    auto never = lwt::wait<int>();
    auto stuck = lwt::task<void>();
    auto top = [&]() -> lwt::promise<void> {
        co_await lwt::join(lwt::map([](int) {}, relay(never.first)), stuck.first);
    };
    auto captured = test::with_stderr_captured([&] {
        try {
            lwt::main::run(top);
        } catch (const std::logic_error&) {
            return 1;
        }
        return 0;
    });
    const std::string err = captured.first;  // (named: clang 14 cannot capture a structured binding)
    REQUIRE(captured.second == 1);
    INFO(err);
    REQUIRE(err.rfind("lwt::main::run: the promise that can never settle waits on:\n", 0) == 0);
    // The coroutine run awaits, the join under it, relay's coroutine further down, and the
    // two promises only their resolvers settle, each deeper than what awaits it.
    const auto at = [&err](const std::string& s) {
        auto i = err.find(s);
        REQUIRE(i != std::string::npos);
        return i;
    };
    const auto line_indent = [&err](std::size_t pos) {
        std::size_t start = err.rfind('\n', pos) + 1;
        return err.find_first_not_of(' ', start) - start;
    };
    const auto outer = at("  a coroutine, ");
    const auto join = at("a combinator (join");
    const auto waits = at("a promise of lwt::wait(): only its resolver can settle it");
    const auto tasks = at("a promise of lwt::task(): only its resolver, or a cancel, can settle it");
    REQUIRE(line_indent(outer) == 2);
    REQUIRE(line_indent(join) == 4);
    REQUIRE(line_indent(waits) > line_indent(join));
    REQUIRE(line_indent(tasks) == 6);
    REQUIRE(std::count(err.begin(), err.end(), '\n') >= 6);
}
