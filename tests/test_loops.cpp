// <lwt/loops.hpp>: a loop per core -- starting and ending loops, posts between them (values,
// failures, promises, cancellation, ended loops), servers on several loops and descriptors
// handed from one loop to another. Run on both engines (and with io_uring's wake-ups by
// eventfd instead of ring messages), and under ThreadSanitizer.
#include <lwt/io.hpp>
#include <lwt/loops.hpp>
#include <lwt/main.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace lwt;

namespace {

// Something each loop owns, indexed by loop: element i is touched only by loop i's thread.
template <class T>
struct per_loop {
    std::array<T, 8> v{};
    T& here() { return v.at(loops::index()); }
};

// Waits for p to settle, whichever way.
template <class T>
promise<void> settled(promise<T> p) {
    try {
        co_await p;
    } catch (...) {
    }
}

// Runs two loops; loop 1 leaves background work behind, which is cancelled when loop 1's
// engine ends -- after every loop has stopped accepting requests -- and then calls
// `late()`, which sends something to loop 0. Whether that was refused with loop_ended.
template <class F>
bool refused_after_run(F late) {
    std::atomic<int> outcome{0};  // 1: loop_ended, 2: anything else
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i == 1) {
            lwt::async([&]() -> promise<void> {
                try {
                    co_await unix_::sleep(60);
                } catch (const lwt::canceled&) {
                    auto p = late();
                    outcome = test::rejected_with<loops::loop_ended>(p) ? 1 : 2;
                }
            });
        }
        co_return;
    });
    return outcome == 1;
}

}  // namespace

// ---- starting and ending ----

TEST_CASE("run with no loops is a misuse") {
    REQUIRE_THROWS_AS(loops::run(0, [](std::size_t) { return lwt::return_(); }), std::invalid_argument);
}

TEST_CASE("outside run there is one loop, of index 0") {
    REQUIRE(loops::index() == 0);
    REQUIRE(loops::count() == 1);
}

TEST_CASE("run calls f once on each loop, each on its own thread, loop 0 on the caller's") {
    std::mutex m;
    std::vector<std::pair<std::size_t, std::thread::id>> seen;
    std::array<std::size_t, 3> counts{};
    loops::run(3, [&](std::size_t i) -> promise<void> {
        {
            std::lock_guard<std::mutex> lk(m);
            seen.emplace_back(i, std::this_thread::get_id());
        }
        counts.at(i) = loops::index() == i ? loops::count() : 0;
        co_return;
    });
    REQUIRE(seen.size() == 3);
    std::set<std::size_t> indexes;
    std::set<std::thread::id> threads;
    for (auto& [i, t] : seen) {
        indexes.insert(i);
        threads.insert(t);
        if (i == 0) REQUIRE(t == std::this_thread::get_id());
    }
    REQUIRE(indexes == std::set<std::size_t>{0, 1, 2});
    REQUIRE(threads.size() == 3);
    REQUIRE(counts == std::array<std::size_t, 3>{3, 3, 3});
    REQUIRE(loops::count() == 1);  // back outside
}

TEST_CASE("run returns only when every loop's promise has settled") {
    std::atomic<bool> slow_done{false};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i == 1) {
            co_await unix_::sleep(0.05);
            slow_done = true;
        }
    });
    REQUIRE(slow_done);
}

TEST_CASE("a failing loop cancels the others and run rethrows its failure") {
    std::atomic<int> cancelled{0};
    auto f = [&](std::size_t i) -> promise<void> {
        if (i == 2) {
            co_await unix_::sleep(0.01);
            throw std::out_of_range("loop 2 failed");
        }
        try {
            co_await unix_::sleep(60);
        } catch (const lwt::canceled&) {
            ++cancelled;
            throw;
        }
    };
    REQUIRE_THROWS_AS(loops::run(3, f), std::out_of_range);
    REQUIRE(cancelled == 2);
}

// A loop may wake from the start late, after another loop's f has already failed: it must
// still call its f (which the failure then cancels), or the group waits for it forever.
TEST_CASE("a loop failing at once still lets every other loop start, and cancels each") {
    constexpr std::size_t n = 8;
    for (int round = 0; round < 10; ++round) {
        std::atomic<std::size_t> started{0}, cancelled{0};
        auto f = [&](std::size_t i) -> promise<void> {
            if (i == n - 1) throw std::out_of_range("loop failed at once");
            ++started;
            try {
                co_await unix_::sleep(60);
            } catch (const lwt::canceled&) {
                ++cancelled;
                throw;
            }
        };
        REQUIRE_THROWS_AS(loops::run(n, f), std::out_of_range);
        REQUIRE(started == n - 1);
        REQUIRE(cancelled == n - 1);
    }
}

TEST_CASE("a synchronous throw from f is that loop's failure") {
    auto f = [](std::size_t i) -> promise<void> {
        if (i == 1) throw std::runtime_error("not even started");
        return unix_::sleep(60);
    };
    REQUIRE_THROWS_AS(loops::run(2, f), std::runtime_error);
}

TEST_CASE("run inside a running loop is a misuse") {
    auto p = [&]() -> promise<void> {
        loops::run(2, [](std::size_t) { return lwt::return_(); });
        co_return;
    };
    REQUIRE_THROWS_AS(main::run(p), std::logic_error);
}

TEST_CASE("run without a count starts one loop per CPU the process may use") {
    std::atomic<std::size_t> n{0};
    loops::run([&](std::size_t) -> promise<void> {
        n = loops::count();
        co_return;
    });
    REQUIRE(n == loops::available_cpus());
    REQUIRE(loops::available_cpus() >= 1);
}

TEST_CASE("pinned loops each run on one CPU, and the caller's affinity comes back") {
    cpu_set_t before;
    REQUIRE(sched_getaffinity(0, sizeof before, &before) == 0);
    std::array<int, 2> cpus_each{};
    std::array<bool, 2> on_its_cpu{};  // loop i on usable_cpus()[i % their number]
    std::vector<int> usable = loops::usable_cpus();
    REQUIRE_FALSE(usable.empty());
    loops::run(
        2,
        [&](std::size_t i) -> promise<void> {
            cpu_set_t s;
            sched_getaffinity(0, sizeof s, &s);
            cpus_each.at(i) = CPU_COUNT(&s);
            on_its_cpu.at(i) = CPU_ISSET(usable[i % usable.size()], &s);
            co_return;
        },
        {.pin = true});
    REQUIRE(cpus_each == std::array<int, 2>{1, 1});
    REQUIRE(on_its_cpu == std::array<bool, 2>{true, true});
    cpu_set_t after;
    REQUIRE(sched_getaffinity(0, sizeof after, &after) == 0);
    REQUIRE(CPU_EQUAL(&before, &after));
}

// ---- posts ----

TEST_CASE("post runs f on the other loop and settles with its value on the caller's") {
    std::atomic<std::size_t> ran_on{99};
    std::atomic<std::size_t> settled_on{99};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        int v = co_await loops::post(1, [&] {
            ran_on = loops::index();
            return 42;
        });
        settled_on = loops::index();
        REQUIRE(v == 42);
    });
    REQUIRE(ran_on == 1);
    REQUIRE(settled_on == 0);
}

TEST_CASE("post of a function returning a promise awaits it on the other loop") {
    std::string got;
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 1) co_return;
        got = co_await loops::post(0, []() -> promise<std::string> {
            co_await unix_::sleep(0.01);
            co_return std::string("slept on loop ") + std::to_string(loops::index());
        });
    });
    REQUIRE(got == "slept on loop 0");
}

TEST_CASE("post of a void function settles once it has run") {
    std::atomic<bool> ran{false};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i == 0) co_await loops::post(1, [&] { ran = true; });
    });
    REQUIRE(ran);
}

TEST_CASE("post of a failing function rejects the caller's promise with its exception") {
    std::optional<promise<int>> thrown, rejected;
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        thrown = loops::post(1, []() -> int { throw std::out_of_range("thrown on 1"); });
        rejected = loops::post(1, [] { return lwt::fail<int>(std::length_error("rejected on 1")); });
        co_await settled(*thrown);
        co_await settled(*rejected);
    });
    REQUIRE(test::rejected_with<std::out_of_range>(*thrown));
    REQUIRE(test::rejected_with<std::length_error>(*rejected));
}

TEST_CASE("a loop whose own work is done keeps serving posts until run returns") {
    int v = 0;
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i == 1) co_return;  // done at once
        co_await unix_::sleep(0.05);
        v = co_await loops::post(1, [] { return 7; });
    });
    REQUIRE(v == 7);
}

TEST_CASE("post to this loop runs f at a later iteration of this loop") {
    std::array<bool, 2> later{};  // pending and not run right after the post, then the right value
    loops::run(2, [&](std::size_t i) -> promise<void> {
        bool ran = false;
        auto p = loops::post(i, [&] {
            ran = true;
            return loops::index();
        });
        bool pending_first = p.is_pending() && !ran;
        later.at(i) = pending_first && co_await p == i && ran;
    });
    REQUIRE(later == std::array<bool, 2>{true, true});
}

TEST_CASE("post outside run runs f on this thread's loop") {
    auto p = loops::post(0, [] { return 5; });
    REQUIRE(p.is_pending());
    REQUIRE(main::run(p) == 5);
}

TEST_CASE("post to a loop that does not exist is a misuse") {
    REQUIRE_THROWS_AS(loops::post(1, [] { return 1; }), std::invalid_argument);
    loops::run(2, [](std::size_t i) -> promise<void> {
        if (i == 0) REQUIRE_THROWS_AS(loops::post(2, [] { return 1; }), std::invalid_argument);
        co_return;
    });
}

TEST_CASE("cancelling a post rejects it at once, and the work on the other loop sees lwt::canceled") {
    std::atomic<bool> work_saw_cancel{false};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        auto started = loops::post(1, [] { return 0; });  // loop 1 is serving
        co_await started;
        auto p = loops::post(1, [&]() -> promise<int> {
            try {
                co_await unix_::sleep(60);
            } catch (const lwt::canceled&) {
                work_saw_cancel = true;
                throw;
            }
            co_return 1;
        });
        co_await unix_::sleep(0.02);  // it is running on loop 1
        lwt::cancel(p);
        REQUIRE(test::is_canceled(p));
        // The cancellation travels to loop 1; a post behind it comes back after it.
        co_await loops::post(1, [] {});
        REQUIRE(work_saw_cancel);
    });
}

TEST_CASE("a post reached twice by one cancellation is cancelled once") {
    std::atomic<int> cancelled{0};
    bool rejected = false;
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        auto p = loops::post(1, [&]() -> promise<void> {
            try {
                co_await unix_::sleep(60);
            } catch (const lwt::canceled&) {
                ++cancelled;
                throw;
            }
        });
        co_await loops::post(1, [] {});  // loop 1 is serving it
        auto both = lwt::join({p, p});     // the walk reaches p's cell by two paths
        lwt::cancel(both);
        rejected = test::is_canceled(p);
        co_await loops::post(1, [] {});  // behind the cancel message
    });
    REQUIRE(rejected);
    REQUIRE(cancelled == 1);
}

TEST_CASE("a post to a loop that has ended is rejected with loop_ended") {
    REQUIRE(refused_after_run([] { return loops::post(0, [] { return 1; }); }));
}

TEST_CASE("loop_ended names the loop") {
    loops::loop_ended e(3);
    REQUIRE(e.index == 3);
    REQUIRE(std::string(e.what()).find("loop 3") != std::string::npos);
}

TEST_CASE("a post still being served when run ends is cancelled and answered") {
    std::atomic<int> outcome{0};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        // Loop 1 serves a post that never ends; loop 0 does not wait for it.
        auto p = loops::post(1, [] { return lwt::wait<int>().first; });
        lwt::on_any(p, [&](int) { outcome = 1; }, [&](std::exception_ptr) { outcome = 2; });
        co_await loops::post(1, [] {});
    });
    REQUIRE(outcome == 2);
}

TEST_CASE("four loops exchanging a million posts: each answered once, with the right value") {
    constexpr std::size_t n = 4;
    constexpr std::size_t per_loop_posts = 250'000;
    constexpr std::size_t window = 500;
    std::array<std::size_t, n> answered{};
    std::array<std::size_t, n> served{};  // element i: posts run on loop i
    std::array<bool, n> values_right{};
    loops::run(n, [&](std::size_t i) -> promise<void> {
        std::size_t to = (i + 1) % n;
        bool right = true;
        for (std::size_t base = 0; base < per_loop_posts; base += window) {
            std::vector<promise<std::size_t>> ps;
            ps.reserve(window);
            for (std::size_t k = base; k < base + window; ++k)
                ps.push_back(loops::post(to, [&served, k] {
                    ++served.at(loops::index());
                    return k * 3 + loops::index();
                }));
            auto vs = co_await lwt::all(std::move(ps));
            for (std::size_t k = 0; k < window; ++k) right = right && vs[k] == (base + k) * 3 + to;
            answered.at(i) += vs.size();
        }
        values_right.at(i) = right;
    });
    for (std::size_t i = 0; i < n; ++i) {
        REQUIRE(answered[i] == per_loop_posts);
        REQUIRE(served[i] == per_loop_posts);
        REQUIRE(values_right[i]);
    }
    REQUIRE(engine::live_operations() == 0);  // no reply is still counted as outstanding
}

// ---- servers and descriptors across loops ----

TEST_CASE("two loops serving one port with reuse_port: every client served, both loops used") {
    constexpr int clients = 1000;
    std::array<std::atomic<int>, 2> served{};
    per_loop<std::optional<io::server>> servers;
    std::atomic<std::uint16_t> port{0};
    auto serve_here = [&](std::uint16_t p) -> promise<void> {
        auto addr = unix_::sockaddr::inet("127.0.0.1", p);
        servers.here() = co_await io::establish_server_with_client_address(
            addr,
            [&](unix_::sockaddr, io::input_channel ic, io::output_channel oc) -> promise<void> {
                ++served.at(loops::index());
                co_await io::write_line(oc, co_await io::read_line(ic));
            },
            {.reuse_port = true});
        port = servers.here()->listening_address().port();
    };
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        co_await serve_here(0);
        std::uint16_t p = port;
        co_await loops::post(1, [&, p] { return serve_here(p); });
        auto addr = unix_::sockaddr::inet("127.0.0.1", p);
        int ok = 0;
        auto client = [&](int id) -> promise<void> {
            auto [ic, oc] = co_await io::open_connection(addr);
            co_await io::write_line(oc, std::to_string(id));
            if (co_await io::read_line(ic) == std::to_string(id)) ++ok;
            co_await io::close(oc);
            co_await io::close(ic);
        };
        for (int c = 0; c < clients; c += 50) {
            std::vector<promise<void>> batch;
            for (int k = c; k < c + 50; ++k) batch.push_back(client(k));
            co_await lwt::join(std::move(batch));
        }
        REQUIRE(ok == clients);
        // Each server ends on its own loop (it belongs to it).
        auto end_here = [&]() -> promise<void> {
            io::server s = *servers.here();
            servers.here().reset();
            co_await io::shutdown_server(s);
        };
        co_await end_here();
        co_await loops::post(1, end_here);
    });
    REQUIRE(served[0] + served[1] == clients);
    REQUIRE(served[0] > 0);
    REQUIRE(served[1] > 0);
}

TEST_CASE("a connection accepted on loop 0 and handed to loop 1 is echoed there") {
    std::atomic<std::size_t> echoed_on{99};
    std::string reply;
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 0) co_return;
        auto listener = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
        unix_::bind(listener, unix_::sockaddr::inet("127.0.0.1", 0));
        unix_::listen(listener);
        auto addr = unix_::getsockname(listener);
        auto client = io::open_connection(addr);
        auto [conn, peer] = co_await unix_::accept(listener);
        auto handled = loops::hand_off(1, std::move(conn), [&](unix_::file_descr fd) -> promise<void> {
            auto [ic, oc] = io::of_socket(std::move(fd));
            echoed_on = loops::index();
            co_await io::write_line(oc, "echo: " + co_await io::read_line(ic));
            co_await io::close(oc);
        });
        auto [ic, oc] = co_await client;
        co_await io::write_line(oc, "hello");
        reply = co_await io::read_line(ic);
        co_await handled;
        co_await io::close(ic);
    });
    REQUIRE(reply == "echo: hello");
    REQUIRE(echoed_on == 1);
}

TEST_CASE("a descriptor handed to a loop that has ended is closed, not leaked") {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    ::close(fds[0]);
    int handed = fds[1];
    REQUIRE(refused_after_run([handed] { return loops::hand_off(0, unix_::file_descr(handed), [](unix_::file_descr) {}); }));
    REQUIRE(::fcntl(handed, F_GETFD) == -1);  // closed
}

// ---- what is global, and what belongs to a loop ----

TEST_CASE("flush_all flushes this loop's channels only, while another loop writes its own") {
    std::atomic<bool> foreign_flush{false};
    std::atomic<bool> writer_done{false};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i == 1) {
            auto me = std::this_thread::get_id();
            auto oc = io::make(io::output, [&, me](const char*, std::size_t n) {
                if (std::this_thread::get_id() != me) foreign_flush = true;
                return lwt::return_(n);
            });
            for (int k = 0; k < 2000; ++k) {
                co_await io::write(oc, "some bytes");
                if (k % 10 == 0) co_await lwt::pause();
            }
            co_await io::close(oc);
            writer_done = true;
        } else {
            while (!writer_done) {
                co_await io::flush_all();
                co_await lwt::pause();
            }
        }
    });
    REQUIRE_FALSE(foreign_flush);
}

TEST_CASE("each loop has its own standard channels") {
    std::array<const void*, 2> out{};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        out.at(i) = &io::stdout_.impl();
        co_return;
    });
    REQUIRE(out[0] != out[1]);
}

TEST_CASE("a loop failing while another serves its post that waits for input: run ends with the failure") {
    auto [a, b] = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
    auto f = [&, a = std::move(a)](std::size_t i) mutable -> promise<void> {
        if (i != 0) co_return;
        auto reading = loops::hand_off(1, std::move(a), [](unix_::file_descr fd) -> promise<void> {
            auto [ic, oc] = io::of_socket(std::move(fd));
            co_await io::read_line(ic);  // nothing ever comes
        });
        co_await unix_::sleep(0.02);
        throw std::out_of_range("loop 0 failed");
    };
    REQUIRE_THROWS_AS(loops::run(2, std::move(f)), std::out_of_range);
}

TEST_CASE("a signal handler runs on the loop that installed it, on every loop that did") {
    std::array<std::atomic<int>, 2> ran_on_own_loop{};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        auto got = lwt::wait<void>();
        auto id = unix_::on_signal(SIGUSR2, [&, i, r = got.second](int) {
            if (loops::index() == i) ++ran_on_own_loop.at(i);
            if (r.cell()->pending()) r.resolve();
        });
        co_await loops::post(1 - i, [] {});  // both handlers are installed: each loop has answered
        if (i == 0) {
            co_await loops::post(1, [] {});
            ::kill(::getpid(), SIGUSR2);
        }
        co_await got.first;
        unix_::disable_signal_handler(id);
    });
    REQUIRE(ran_on_own_loop[0] == 1);
    REQUIRE(ran_on_own_loop[1] == 1);
}

TEST_CASE("run_in_main from a job detached on loop 1 runs on loop 1") {
    std::atomic<std::size_t> main_was{99};
    loops::run(2, [&](std::size_t i) -> promise<void> {
        if (i != 1) co_return;
        co_await preemptive::detach([&] { preemptive::run_in_main([&] { main_was = loops::index(); }); });
    });
    REQUIRE(main_was == 1);
}
