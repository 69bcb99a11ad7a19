// <lwt/unix/waitpid.hpp>: Lwt_unix.waitpid, wait4, wait and wait_count, and how waits for any
// child share the children with lwt::process.
#include <lwt/main.hpp>
#include <lwt/process.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <string>
#include <thread>
#include <tuple>

using namespace lwt;

extern char** environ;

namespace {

// A child running `sh -c script`, spawned behind lwt++'s back.
pid_t spawn_sh(const std::string& script) {
    pid_t pid = -1;
    std::string c = "-c";
    const char* argv[] = {"sh", c.c_str(), script.c_str(), nullptr};
    REQUIRE(::posix_spawnp(&pid, "sh", nullptr, nullptr, const_cast<char* const*>(argv), environ) == 0);
    return pid;
}

// Until the child has ended (a zombie), without reaping it.
void until_ended(pid_t pid) {
    siginfo_t info{};
    int r;
    while ((r = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT)) != 0 && errno == EINTR) {
    }
    REQUIRE(r == 0);
}

}  // namespace

TEST_CASE("waitpid reaps a child and reports its exit status") {
    int go[2];
    REQUIRE(::pipe(go) == 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(go[1]);
        char c;
        [[maybe_unused]] auto n = ::read(go[0], &c, 1);  // until waitpid waits
        ::_exit(3);
    }
    ::close(go[0]);
    auto w = unix_::waitpid(pid);
    REQUIRE(w.is_pending());
    REQUIRE(::write(go[1], "g", 1) == 1);
    ::close(go[1]);
    auto p_status_ = main::run(w);
    auto& p = p_status_.first;
    auto& status = p_status_.second;
    REQUIRE(p == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 3);
    REQUIRE_THROWS_AS(main::run(unix_::waitpid(pid)), unix_::unix_error);  // reaped already: ECHILD
}

TEST_CASE("waitpid reports a death by signal") {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid_t killed = ::fork();
    if (killed == 0) {
        ::signal(SIGTERM, SIG_DFL);  // not Catch's handler: die of the signal
        [[maybe_unused]] auto n = ::write(ready[1], "r", 1);
        ::pause();
        ::_exit(0);
    }
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);  // the child's handler is reset: kill it now
    ::close(ready[0]);
    ::close(ready[1]);
    auto w = unix_::waitpid(killed);
    ::kill(killed, SIGTERM);
    auto p2_s2_ = main::run(w);
    REQUIRE(p2_s2_.first == killed);
    auto& s2 = p2_s2_.second;
    REQUIRE(WIFSIGNALED(s2));
    REQUIRE(WTERMSIG(s2) == SIGTERM);
}

TEST_CASE("wait4 gives the child's status and the CPU time it used") {
    pid_t pid = spawn_sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit 5");
    auto [p, status, usage] = main::run(unix_::wait4({}, pid));
    REQUIRE(p == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 5);
    REQUIRE(usage.ru_utime + usage.ru_stime > 0.0);
    REQUIRE(usage.ru_utime < 60.0);
}

TEST_CASE("waitpid(-1) and wait reap whichever child ends, then fail with ECHILD once none is left") {
    pid_t slow = spawn_sh("sleep 0.3; exit 2");
    pid_t quick = spawn_sh("exit 1");
    auto first = main::run(unix_::waitpid(-1));
    REQUIRE(first.first == quick);
    REQUIRE(WEXITSTATUS(first.second) == 1);
    auto second = main::run(unix_::wait());
    REQUIRE(second.first == slow);
    REQUIRE(WEXITSTATUS(second.second) == 2);
    try {
        main::run(unix_::waitpid(-1));
        FAIL("no child is left");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.code().value() == ECHILD);
        REQUIRE(std::string(e.what()).find("waitpid") != std::string::npos);
    }
}

TEST_CASE("wnohang reports (0, 0) while the child runs, then its end") {
    pid_t pid = spawn_sh("sleep 0.2");
    REQUIRE(main::run(unix_::waitpid({unix_::wait_flag::wnohang}, pid)) == std::pair<pid_t, int>(0, 0));
    REQUIRE(main::run(unix_::waitpid({unix_::wait_flag::wnohang}, -1)) == std::pair<pid_t, int>(0, 0));
    until_ended(pid);
    auto got = main::run(unix_::waitpid({unix_::wait_flag::wnohang}, pid));
    REQUIRE(got.first == pid);
    REQUIRE(WIFEXITED(got.second));
}

TEST_CASE("wuntraced reports a child that stopped, which can then be continued and reaped") {
    pid_t pid = spawn_sh("kill -STOP $$; exit 6");
    auto stopped = main::run(unix_::waitpid({unix_::wait_flag::wuntraced}, pid));
    REQUIRE(stopped.first == pid);
    REQUIRE(WIFSTOPPED(stopped.second));
    REQUIRE(WSTOPSIG(stopped.second) == SIGSTOP);
    REQUIRE(::kill(pid, SIGCONT) == 0);
    auto ended = main::run(unix_::waitpid(pid));
    REQUIRE(WEXITSTATUS(ended.second) == 6);
}

TEST_CASE("a wait for any child leaves lwt::process its own child, even one that ended first") {
    // (It outlives the process's first attempt to reap it, made at once.)
    auto p = process::open_process_none(process::shell("sleep 0.1; exit 7"));
    until_ended(p.pid());  // a zombie: the loop has not run, so its reaper has not taken it
    pid_t other = spawn_sh("sleep 0.2; exit 3");
    // The wait for any child meets the process's child first: it must keep it for the
    // process, and report the other one.
    auto any = main::run(unix_::waitpid(-1));
    REQUIRE(any.first == other);
    REQUIRE(WEXITSTATUS(any.second) == 3);
    auto st = main::run(p.status());
    REQUIRE(st == process::status{process::status::kind::exited, 7});
}

TEST_CASE("a wait for any child that finds only a waited-for child ended keeps waiting for another") {
    pid_t mine = spawn_sh("sleep 0.1; exit 4");
    auto by_pid = unix_::waitpid(mine);  // claims it
    until_ended(mine);
    until_ended(spawn_sh("exit 8"));
    auto any = main::run(unix_::waitpid(-1));
    REQUIRE(WEXITSTATUS(any.second) == 8);
    auto own = main::run(by_pid);
    REQUIRE(own.first == mine);
    REQUIRE(WEXITSTATUS(own.second) == 4);
}

TEST_CASE("cancelling a wait for any child stops it; the child can be waited for again") {
    pid_t pid = spawn_sh("sleep 0.2; exit 9");
    auto w = unix_::waitpid(-1);
    REQUIRE(w.is_pending());
    REQUIRE(unix_::wait_count() == 1);
    cancel(w);
    REQUIRE(w.state() == lwt::state::rejected);
    REQUIRE(unix_::wait_count() == 0);
    auto got = main::run(unix_::waitpid(-1));
    REQUIRE(got.first == pid);
    REQUIRE(WEXITSTATUS(got.second) == 9);
}

TEST_CASE("waits for any child on two loops each get a child, and none is reaped twice") {
    pid_t a = spawn_sh("sleep 0.1; exit 1");
    pid_t b = spawn_sh("sleep 0.2; exit 2");
    std::pair<pid_t, int> other{};
    std::thread t([&] { other = main::run(unix_::waitpid(-1)); });
    auto mine = main::run(unix_::waitpid(-1));
    t.join();
    REQUIRE(mine.first != other.first);
    REQUIRE((mine.first == a || mine.first == b));
    REQUIRE((other.first == a || other.first == b));
}
