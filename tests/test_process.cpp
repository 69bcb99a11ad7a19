// <lwt/process.hpp>: Lwt_process with real programs, on the engine this run selected.
#include <lwt/main.hpp>
#include <lwt/process.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <chrono>
#include <csignal>
#include <stdexcept>
#include <string>

using namespace lwt;
using namespace std::chrono_literals;

namespace {
// The exit_error of pread(cmd) under check (a test failure if there is none).
process::exit_error pread_failure(process::command cmd, process::options o) {
    o.check = true;
    try {
        main::run(process::pread(std::move(cmd), o));
    } catch (const process::exit_error& e) {
        return e;
    }
    FAIL("pread should fail with exit_error");
    throw std::logic_error("unreachable");
}
}  // namespace

TEST_CASE("exec runs a program and gives its exit status") {
    REQUIRE(main::run(process::exec({"true"})).success());
    auto st = main::run(process::exec(process::shell("exit 3")));
    REQUIRE(st.k == process::status::kind::exited);
    REQUIRE(st.code == 3);
    auto killed = main::run(process::exec(process::shell("kill -TERM $$")));
    REQUIRE(killed.k == process::status::kind::signaled);
    REQUIRE(killed.code == SIGTERM);
}

TEST_CASE("a program that does not exist is a unix_error") {
    REQUIRE_THROWS_AS(main::run(process::exec({"/nonexistent/program"})), unix_::unix_error);
    REQUIRE_THROWS_AS(process::open_process_none({"no-such-program-lwtpp"}), unix_::unix_error);
}

TEST_CASE("pread gives the standard output, whatever the exit status (as Lwt's)") {
    REQUIRE(main::run(process::pread({"echo", "hello", "world"})) == "hello world\n");
    REQUIRE(main::run(process::pread(process::shell("echo partial; exit 4"))) == "partial\n");
}

TEST_CASE("with check, pread turns a failed exit into exit_error with the status and the output") {
    auto e = pread_failure(process::shell("echo partial; exit 4"), {});
    REQUIRE(e.exit_status().code == 4);
    REQUIRE(e.output() == "partial\n");
}

TEST_CASE("pread_lines streams the lines of the output") {
    auto lines = main::run(process::pread_lines(process::shell("printf 'a\\nb\\nc\\n'")).to_list());
    REQUIRE(lines == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("pwrite feeds the child's standard input") {
    test::temp_dir dir;
    auto path = dir / "out";
    main::run(process::pwrite(process::shell("cat > " + path), "fed\n"));
    REQUIRE(main::run(process::pread({"cat", path})) == "fed\n");
}

TEST_CASE("pmap feeds the input while reading the output") {
    std::string big(1 << 20, 'x');  // larger than a pipe: reading and writing must overlap
    REQUIRE(main::run(process::pmap({"cat"}, big)) == big);
    REQUIRE(main::run(process::pmap({"tr", "a-z", "A-Z"}, "shout")) == "SHOUT");
}

TEST_CASE("a timeout kills the child instead of hanging") {
    process::options o;
    o.timeout = 100ms;
    auto t0 = std::chrono::steady_clock::now();
    auto st = main::run(process::exec({"sleep", "30"}, o));
    REQUIRE(std::chrono::steady_clock::now() - t0 < 10s);
    REQUIRE(st.k == process::status::kind::signaled);
    REQUIRE(st.code == SIGKILL);
    // A child that finishes in time is left alone.
    REQUIRE(main::run(process::exec({"true"}, o)).success());
}

TEST_CASE("a timeout ends pread, pmap and pread_lines even when a grandchild holds the pipes") {
    process::options o;
    o.timeout = 200ms;
    // The shell's child (sleep) inherits stdout and keeps it open after the shell is killed.
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(main::run(process::pread(process::shell("echo early; sleep 5 2>/dev/null; echo late"), o)) == "early\n");
    REQUIRE(main::run(process::pmap(process::shell("cat; sleep 5 2>/dev/null"), "fed\n", o)) == "fed\n");
    auto lines = process::pread_lines(process::shell("echo one; sleep 5 2>/dev/null"), o);
    REQUIRE(main::run(lines.to_list()) == std::vector<std::string>{"one"});
    // A child that never reads its stdin: the blocked write ends too.
    std::string big(1 << 20, 'x');
    main::run(process::pwrite(process::shell("sleep 5 >/dev/null 2>&1"), big, o));
    REQUIRE(std::chrono::steady_clock::now() - t0 < 10s);
}

TEST_CASE("with check, the kill of a timeout is exit_error with what was read") {
    process::options o;
    o.timeout = 200ms;
    auto e = pread_failure(process::shell("echo early; sleep 5 2>/dev/null"), o);
    REQUIRE(e.exit_status().k == process::status::kind::signaled);
    REQUIRE(e.output() == "early\n");
}

TEST_CASE("env is the child's environment") {
    process::options o;
    o.env = std::vector<std::string>{"LWTPP_TEST=42", "PATH=/usr/bin:/bin"};
    REQUIRE(main::run(process::pread(process::shell("echo $LWTPP_TEST"), o)) == "42\n");
}

TEST_CASE("cwd is the child's working directory") {
    process::options c;
    c.cwd = "/";
    REQUIRE(main::run(process::pread({"pwd"}, c)) == "/\n");
}

TEST_CASE("stdout and stderr redirections apply to the child") {
    process::options q;
    q.stderr_ = process::redirection::dev_null();
    REQUIRE(main::run(process::pread(process::shell("echo out; echo err >&2"), q)) == "out\n");
    test::temp_dir dir;
    auto fd = main::run(unix_::openfile(dir / "f", O_WRONLY | O_CREAT, 0644));
    process::options r;
    r.stdout_ = process::redirection::from_fd(fd.fd());
    main::run(process::exec({"echo", "to a file"}, r));
    REQUIRE(main::run(process::pread({"cat", dir / "f"})) == "to a file\n");
}

TEST_CASE("a process object gives the child's pid and channels; close waits for its exit") {
    auto p = process::open_process_full(process::shell("read x; echo \"got $x\"; echo oops >&2"));
    REQUIRE(p.pid() > 0);
    REQUIRE(p.running());
    main::run(io::write_line(p.stdin_(), "input"));
    main::run(io::close(p.stdin_()));
    REQUIRE(main::run(io::read_line(p.stdout_())) == "got input");
    REQUIRE(main::run(io::read_line(p.stderr_())) == "oops");
    REQUIRE(main::run(p.close()).success());
    REQUIRE_FALSE(p.running());
}

TEST_CASE("terminate ends a running child; kill of an ended one does nothing") {
    auto s = process::open_process_none({"sleep", "30"});
    s.terminate();
    auto st = main::run(s.status());
    REQUIRE(st.k == process::status::kind::signaled);
    REQUIRE_NOTHROW(s.kill());  // ended: nothing to do
}

TEST_CASE("open_process_in reads the child's output") {
    auto in = process::open_process_in(process::shell("echo one; echo two"));
    REQUIRE(main::run(io::read_lines(in.stdout_()).to_list()) == std::vector<std::string>{"one", "two"});
    REQUIRE(main::run(in.close()).success());
}

TEST_CASE("open_process_out writes the child's input") {
    test::temp_dir dir;
    auto out = process::open_process_out(process::shell("cat > " + (dir / "fed")));
    main::run(io::write_line(out.stdin_(), "written"));
    REQUIRE(main::run(out.close()).success());  // closes its stdin first: cat ends
    REQUIRE(main::run(process::pread({"cat", dir / "fed"})) == "written\n");
}

TEST_CASE("kill ends a running child with the signal given") {
    auto s = process::open_process_none({"sleep", "30"});
    REQUIRE(s.running());
    s.kill(SIGKILL);
    auto st = main::run(s.status());
    REQUIRE(st.k == process::status::kind::signaled);
    REQUIRE(st.code == SIGKILL);
    REQUIRE_FALSE(s.running());
}

TEST_CASE("a dev_null stdin gives the child an empty input") {
    process::options n;
    n.stdin_ = process::redirection::dev_null();
    REQUIRE(main::run(process::pread(process::shell("cat; echo end"), n)) == "end\n");
}

TEST_CASE("a closed stdin fails the child's reads") {
    process::options c;
    c.stdin_ = process::redirection::close();
    c.stderr_ = process::redirection::dev_null();
    // With fd 0 closed, reading it fails: the shell reports it and goes on.
    REQUIRE(main::run(process::pread(process::shell("cat || echo no stdin"), c)) == "no stdin\n");
}

TEST_CASE("check reports a death by signal as exit_error") {
    auto e = pread_failure(process::shell("echo partial; kill -9 $$"), {});
    REQUIRE(e.exit_status().k == process::status::kind::signaled);
    REQUIRE(e.exit_status().code == SIGKILL);
    REQUIRE(e.output() == "partial\n");
}

TEST_CASE("children do not inherit the runtime's ignored SIGPIPE") {
    REQUIRE(std::signal(SIGPIPE, SIG_IGN) != SIG_ERR);  // as the runtime sets it
    // The child reports the signals it ignores: SIGPIPE must not be among them.
    auto status_text = main::run(process::pread({"cat", "/proc/self/status"}));
    auto at = status_text.find("SigIgn:");
    REQUIRE(at != std::string::npos);
    unsigned long long ignored = std::stoull(status_text.substr(at + 7), nullptr, 16);
    REQUIRE((ignored & (1ULL << (SIGPIPE - 1))) == 0);
}

TEST_CASE("pread_line gives the first line of the output; no output at all is end_of_file") {
    REQUIRE(main::run(process::pread_line(process::shell("printf 'first\\nsecond\\n'"))) == "first");
    REQUIRE(main::run(process::pread_line(process::shell("printf 'no newline'"))) == "no newline");
    REQUIRE_THROWS_AS(main::run(process::pread_line({"true"})), end_of_file);
}

TEST_CASE("pwrite_line and pwrite_lines feed lines, each with its newline") {
    test::temp_dir dir;
    auto path = dir / "out";
    main::run(process::pwrite_line(process::shell("cat > " + path), "one"));
    REQUIRE(main::run(process::pread({"cat", path})) == "one\n");
    main::run(process::pwrite_lines(process::shell("cat > " + path), stream<std::string>::of_vector({"a", "b", "c"})));
    REQUIRE(main::run(process::pread({"cat", path})) == "a\nb\nc\n");
}

TEST_CASE("pmap_line maps one line; pmap_lines streams lines through the child as they come") {
    REQUIRE(main::run(process::pmap_line({"tr", "a-z", "A-Z"}, "shout")) == "SHOUT");
    // The output's lines are read while later input lines are still to be pushed: the child
    // (a line-buffered sed) answers each one before the next is given.
    auto [in, push] = stream<std::string>::create();
    auto out = process::pmap_lines({"sed", "-u", "s/^/> /"}, in);
    push(std::string("one"));
    REQUIRE(main::run(out.get()) == std::optional<std::string>("> one"));
    push(std::string("two"));
    REQUIRE(main::run(out.get()) == std::optional<std::string>("> two"));
    push(std::nullopt);
    REQUIRE(main::run(out.get()) == std::nullopt);
}

TEST_CASE("with_process_in gives f's value once the process is closed, and closes it on a failure too") {
    auto first = main::run(process::with_process_in(process::shell("printf 'x\\ny\\n'"), [](process::process_in& p) {
        return io::read_line(p.stdout_());
    }));
    REQUIRE(first == "x");
    pid_t pid = 0;
    auto failing = process::with_process_none({"sleep", "0.05"}, [&pid](process::process_none& p) -> promise<int> {
        pid = p.pid();
        throw std::runtime_error("f failed");
    });
    REQUIRE_THROWS_WITH(main::run(failing), "f failed");
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, 0) != 0);  // (reaped: closed before the failure came out)
}

TEST_CASE("with_process_full and with_process_out hand f the child's channels") {
    auto got = main::run(process::with_process_full({"tr", "a-z", "A-Z"}, [](process::process_full& p) -> promise<std::string> {
        co_await io::write(p.stdin_(), "loud");
        co_await io::close(p.stdin_());
        co_return co_await io::read(p.stdout_());
    }));
    REQUIRE(got == "LOUD");
    test::temp_dir dir;
    auto path = dir / "out";
    main::run(process::with_process_out(process::shell("cat > " + path), [](process::process_out& p) {
        return io::write(p.stdin_(), "written\n");
    }));
    REQUIRE(main::run(process::pread({"cat", path})) == "written\n");
}
