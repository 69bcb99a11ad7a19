// lwt::main::dump, record_coroutines and dump_on_signal (<lwt/main.hpp>): every suspended
// coroutine, with its await point and what it waits on, as the tree of who awaits whom. On
// both engines and with io_uring refused (tests/meson.build).
#include <lwt/io.hpp>
#include <lwt/lwt.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace lwt;

namespace {

// Recording is process-wide: each case turns it off again.
struct recording {
    recording() { main::record_coroutines(); }
    ~recording() { main::record_coroutines(false); }
};

std::string dump_text() {
    char* buf = nullptr;
    std::size_t len = 0;
    std::FILE* f = ::open_memstream(&buf, &len);
    main::dump(f);
    std::fclose(f);
    std::string s(buf, len);
    std::free(buf);
    return s;
}

// Whether addr2line can turn this program's addresses into file:line (binutils, and the
// debug information of a debugoptimized build).
[[maybe_unused]] bool have_addr2line() { return std::system("addr2line --version >/dev/null 2>&1") == 0; }

std::size_t indent_at(const std::string& s, std::size_t pos) {
    const std::size_t start = s.rfind('\n', pos) + 1;
    return s.find_first_not_of(' ', start) - start;
}

// The line of `s` that contains `what` (the first one after `from`).
std::size_t line_with(const std::string& s, const std::string& what, std::size_t from = 0) {
    const std::size_t at = s.find(what, from);
    INFO(s);
    INFO("looking for: " << what);
    REQUIRE(at != std::string::npos);
    return at;
}

std::string line_of(const std::string& s, std::size_t pos) {
    const std::size_t start = s.rfind('\n', pos) + 1;
    return s.substr(start, s.find('\n', pos) - start);
}

[[maybe_unused]] std::string at_line(int line) { return "test_dump.cpp:" + std::to_string(line) + ","; }

// The known program: a connection handler in read_line, a sleeper, and a join of two
// coroutines that each wait on a promise only a resolver settles.
[[maybe_unused]] constexpr int read_line_at = __LINE__ + 3;
promise<void> handle_connection(unix_::file_descr conn) {
    auto ic = io::of_fd(io::input, std::move(conn));
    std::string l = co_await io::read_line(ic);
    (void)l;
}

[[maybe_unused]] constexpr int sleep_at = __LINE__ + 2;
promise<void> sleeper() {
    co_await unix_::sleep(3600);
}

[[maybe_unused]] constexpr int part_at = __LINE__ + 2;
promise<void> part(promise<int> p) {
    int v = co_await p;
    (void)v;
}

[[maybe_unused]] constexpr int join_at = __LINE__ + 2;
promise<void> both_parts(promise<int> a, promise<int> b) {
    co_await join(part(a), part(b));
}

}  // namespace

TEST_CASE("the dump names each suspended coroutine's await point and what it waits on, as the tree of who awaits whom") {
    recording on;
    auto [client, conn] = test::tcp_pair();
    const int conn_fd = conn.fd();
    auto server = handle_connection(std::move(conn));
    auto sleeping = sleeper();
    auto a = wait<int>();
    auto b = wait<int>();
    auto joined = both_parts(a.first, b.first);
    main::run(lwt::pause());  // everything is suspended now
    const std::string d = dump_text();
    INFO(d);
    // Everything ends before the checks, so that a failed check leaves nothing pending.
    a.second.resolve(1);
    b.second.resolve(2);
    main::run(std::move(joined));
    cancel(sleeping);
    cancel(server);
    REQUIRE(test::is_canceled(server));

    // (5 of the program's, and read_line's own.)
    REQUIRE(d.rfind("lwt: dump: ", 0) == 0);
    REQUIRE(std::stoi(d.substr(11)) >= 5);
    REQUIRE(d.find(" suspended coroutines; lwt (") != std::string::npos);
    // The connection: its handler, read_line's own coroutines beneath it, and at the bottom
    // the receive on the connection's descriptor.
    const auto handler = line_with(d, "a coroutine, (anonymous namespace)::handle_connection(");
    REQUIRE(indent_at(d, handler) == 2);
    REQUIRE(d.find("an I/O operation: ", handler) != std::string::npos);
    const auto io = line_with(d, "an I/O operation: ", handler);
    const std::string io_line = line_of(d, io);
    REQUIRE(io_line.substr(io_line.rfind(" on fd ")) == " on fd " + std::to_string(conn_fd));
    REQUIRE(indent_at(d, io) > 2);
    // The sleeper, and its sleep under it.
    const auto sleeping_line = line_with(d, "a coroutine, (anonymous namespace)::sleeper()");
    REQUIRE(indent_at(d, sleeping_line) == 2);
    const auto sleep = line_with(d, "a sleep, due in 3", sleeping_line);
    REQUIRE(indent_at(d, sleep) == 4);
    // The join of two: the combinator under both_parts, the two parts under it, each above
    // the promise only its resolver settles.
    const auto joiner = line_with(d, "a coroutine, (anonymous namespace)::both_parts(");
    REQUIRE(indent_at(d, joiner) == 2);
    const auto comb = line_with(d, "a combinator (join", joiner);
    REQUIRE(indent_at(d, comb) == 4);
    const auto first = line_with(d, "a coroutine, (anonymous namespace)::part(", comb);
    const auto second = line_with(d, "a coroutine, (anonymous namespace)::part(", first + 1);
    REQUIRE(indent_at(d, first) == 6);
    REQUIRE(indent_at(d, second) == 6);
    REQUIRE(indent_at(d, line_with(d, "a promise of lwt::wait(): only its resolver can settle it", first)) == 8);
    // The parts are printed under the join only, not again as roots of their own.
    REQUIRE(d.find("(anonymous namespace)::part(", d.find('\n', second)) == std::string::npos);

    // Await points: where the toolchain's debug information carries the co_await's line
    // (g++; clang 14's, read by binutils' addr2line, stops at the runtime's own call).
#if !defined(__clang__)
    if (have_addr2line()) {
        // Each coroutine's own line names its co_await, and how long it has waited.
        CHECK(line_of(d, handler).find(at_line(read_line_at) + " for 0.") != std::string::npos);
        CHECK(line_of(d, sleeping_line).find(at_line(sleep_at) + " for 0.") != std::string::npos);
        CHECK(line_of(d, joiner).find(at_line(join_at)) != std::string::npos);
        CHECK(line_of(d, first).find(at_line(part_at)) != std::string::npos);
        CHECK(line_of(d, second).find(at_line(part_at)) != std::string::npos);
    }
#endif
    REQUIRE(line_of(d, sleeping_line).find(", for 0.") != std::string::npos);
}

TEST_CASE("a dump made while nothing is recorded says how to record") {
    main::record_coroutines(false);
    const std::string d = dump_text();
    REQUIRE(d ==
            "lwt: dump: coroutines are not recorded on this thread (lwt::main::record_coroutines(), dump_on_signal or "
            "LWT_TRACE turn it on)\n");
}

TEST_CASE("coroutines that have ended, and those made before recording began, are not in the dump") {
    auto early = wait<int>();
    auto before = part(early.first);  // made before recording: not recorded
    recording on;
    auto late = wait<int>();
    auto after = part(late.first);
    auto ended = part(lwt::return_(1));  // ran to its end without suspending
    REQUIRE(ended.state() == lwt::state::fulfilled);
    const std::string d = dump_text();
    early.second.resolve(1);
    late.second.resolve(2);
    main::run(join(before, after));
    INFO(d);
    REQUIRE(d.rfind("lwt: dump: 1 suspended coroutine; ", 0) == 0);
    line_with(d, "a coroutine, (anonymous namespace)::part(");
}

TEST_CASE("dump_on_signal prints the dump when the signal arrives, and does not keep run waiting") {
    const auto handler = main::dump_on_signal(SIGUSR2);
    auto captured = test::with_stderr_captured([] {
        auto never = wait<void>();
        auto waiting = both_parts(wait<int>().first, wait<int>().first);
        main::run([]() -> promise<void> {
            ::raise(SIGUSR2);
            // The handler runs on the loop, posted by the signal's dispatcher thread.
            co_await unix_::sleep(0.3);
        });
        try {
            // Nothing can settle this promise: with only the dump's handler installed, run
            // says so (rule 16) instead of waiting for a signal.
            main::run(never.first);
        } catch (const std::logic_error&) {
            return 1;
        }
        return 0;
    });
    unix_::disable_signal_handler(handler);
    main::record_coroutines(false);
    const std::string err = captured.first;  // (named: clang 14 cannot capture a structured binding)
    INFO(err);
    REQUIRE(captured.second == 1);
    const auto dump = line_with(err, "lwt: dump: ");
    line_with(err, "a coroutine, (anonymous namespace)::both_parts(", dump);
    // The rule-16 error that follows includes the dump of every suspended coroutine.
    const auto error = line_with(err, "lwt::main::run: the promise that can never settle waits on:\n", dump);
    line_with(err, "every suspended coroutine of this loop:\n", error);
    line_with(err, "a coroutine, (anonymous namespace)::both_parts(", error);
}

TEST_CASE("LWT_DUMP_SIGNAL installs dump_on_signal on a thread's loop at its first run") {
    // (A thread of its own: this one's first run is long past. Its loop ends with it.)
    ::setenv("LWT_DUMP_SIGNAL", "USR1", 1);
    auto captured = test::with_stderr_captured([] {
        std::thread t([] {
            main::run([]() -> promise<void> {
                // (Made in the run: recording begins with the thread's first run.)
                auto waiting = both_parts(wait<int>().first, wait<int>().first);
                ::raise(SIGUSR1);
                co_await unix_::sleep(0.3);
            });
        });
        t.join();
        return 0;
    });
    ::unsetenv("LWT_DUMP_SIGNAL");
    main::record_coroutines(false);
    const std::string err = captured.first;
    INFO(err);
    const auto dump = line_with(err, "lwt: dump: ");
    line_with(err, "a coroutine, (anonymous namespace)::both_parts(", dump);
}

TEST_CASE("an LWT_DUMP_SIGNAL that names no signal is one line on stderr, and the program runs on") {
    ::setenv("LWT_DUMP_SIGNAL", "USR3", 1);
    auto captured = test::with_stderr_captured([] {
        int v = 0;
        std::thread t([&v] { v = main::run(lwt::return_(5)); });
        t.join();
        return v;
    });
    ::unsetenv("LWT_DUMP_SIGNAL");
    REQUIRE(captured.second == 5);
    REQUIRE(captured.first == "lwt: LWT_DUMP_SIGNAL=USR3: not USR1, USR2, QUIT, HUP or a signal number (no dump on a signal)\n");
}
