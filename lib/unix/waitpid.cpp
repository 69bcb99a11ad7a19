// Lwt_unix.waitpid, wait4, wait, wait_count.
//
// Every attempt to reap runs under one process-wide lock (the child registry), as wait4
// with WNOHANG: it never blocks. The registry knows which pids are waited for by pid
// (claimed). A wait for several children that reaps a claimed one keeps its status in the
// registry (stashed) and tries again; the claimed one's own waiter, woken by its pidfd
// (readable once the child has exited, reaped or not), takes the stashed status. Because
// reaping and stashing happen under the lock, the claimant either reaps the child itself or
// finds it stashed: never ECHILD.
//
// Sleeping: on the pidfd (a poll operation on the engine) for one child; otherwise until
// SIGCHLD, through on_signal. The handler is installed before the first attempt, so a child
// that ends between an attempt and the sleep still wakes the wait (the signal is posted to
// the loop and handled after the wait has started sleeping).
#include "support.hpp"

#include <lwt/unix/fd.hpp>
#include <lwt/unix/signal.hpp>
#include <lwt/unix/waitpid.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace lwt::unix_ {

namespace {

struct reaped {
    pid_t pid = 0;
    int status = 0;
    resource_usage usage;
};

double seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; }

struct child_registry {
    std::mutex m;
    std::unordered_map<pid_t, int> claimed;     // pid -> waits by that pid in progress
    std::unordered_map<pid_t, reaped> stashed;  // reaped by a wait for several, kept for its own waiter
    std::atomic<int> waits{0};
};

child_registry& registry() {
    static child_registry r;
    return r;
}

// Counts a wait in progress and, for a wait by pid, claims the pid, for its lifetime.
struct wait_scope {
    pid_t pid;
    explicit wait_scope(pid_t p) : pid(p) {
        auto& r = registry();
        r.waits.fetch_add(1, std::memory_order_relaxed);
        if (pid > 0) {
            std::lock_guard<std::mutex> lk(r.m);
            ++r.claimed[pid];
        }
    }
    ~wait_scope() {
        auto& r = registry();
        if (pid > 0) {
            std::lock_guard<std::mutex> lk(r.m);
            if (--r.claimed[pid] == 0) r.claimed.erase(pid);
        }
        r.waits.fetch_sub(1, std::memory_order_relaxed);
    }
    wait_scope(const wait_scope&) = delete;
    wait_scope& operator=(const wait_scope&) = delete;
};

// One attempt, never blocking: what the child (or one of the children) has to report, or
// std::nullopt.
std::optional<reaped> attempt(pid_t pid, int options, const char* call) {
    auto& r = registry();
    std::lock_guard<std::mutex> lk(r.m);
    if (pid > 0)
        if (auto it = r.stashed.find(pid); it != r.stashed.end()) {
            reaped got = it->second;
            r.stashed.erase(it);
            return got;
        }
    for (;;) {
        reaped got;
        rusage ru{};
        got.pid = ::wait4(pid, &got.status, options | WNOHANG, &ru);
        if (got.pid == 0) return std::nullopt;
        if (got.pid < 0) {
            if (errno == EINTR) continue;
            throw unix_error(errno, call, std::to_string(pid));
        }
        got.usage = {seconds(ru.ru_utime), seconds(ru.ru_stime)};
        if (pid <= 0 && r.claimed.count(got.pid) != 0) {
            // Someone waits for this one by pid: its end is theirs (a stop is reported once,
            // to us, and dropped).
            if (WIFEXITED(got.status) || WIFSIGNALED(got.status)) r.stashed[got.pid] = got;
            continue;
        }
        return got;
    }
}

// Wakes a wait for several children on each SIGCHLD, while it exists.
struct sigchld_wake {
    struct state {
        std::optional<resolver<void>> sleeping;
        bool fired = false;
    };
    std::shared_ptr<state> st = std::make_shared<state>();
    signal_handler_id id;

    sigchld_wake() {
        id = on_signal(SIGCHLD, [st = st](int) {
            st->fired = true;
            if (st->sleeping) {
                auto r = std::move(*st->sleeping);
                st->sleeping.reset();
                r.resolve();
            }
        });
    }
    ~sigchld_wake() { disable_signal_handler(id); }
    sigchld_wake(const sigchld_wake&) = delete;
    sigchld_wake& operator=(const sigchld_wake&) = delete;

    void arm() { st->fired = false; }
    // Until the next SIGCHLD since arm() (at once if one came already). Cancelable.
    promise<void> next() {
        if (st->fired) return return_();
        auto t = task<void>();
        st->sleeping.emplace(std::move(t.second));
        return std::move(t.first);
    }
};

int options_of(std::initializer_list<wait_flag> flags) {
    int o = 0;
    for (wait_flag f : flags) o |= f == wait_flag::wnohang ? WNOHANG : WUNTRACED;
    return o;
}

promise<reaped> wait_impl(pid_t pid, int options, const char* call) {
    wait_scope scope(pid);
    if ((options & WNOHANG) != 0) {
        auto got = attempt(pid, options, call);
        co_return got ? *got : reaped{};
    }
    // One child's end, without stops: its pidfd, where the kernel has pidfds.
    file_descr pidfd(pid > 0 && (options & WUNTRACED) == 0 ? static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)) : -1);
    std::optional<sigchld_wake> wake;
    if (!pidfd) wake.emplace();
    for (;;) {
        if (wake) wake->arm();
        if (auto got = attempt(pid, options, call)) co_return *got;
        if (pidfd) {
            detail::io_awaiter a;
            a.op.kind = detail::io_kind::poll;
            a.op.fd = pidfd.fd();
            a.op.flags = POLLIN;
            auto done = co_await a;
            if (done.res < 0 || done.canceled) detail::result_slow(done, call, std::to_string(pid), false);
        } else {
            co_await wake->next();
        }
    }
}

promise<std::pair<pid_t, int>> as_pair(promise<reaped> p) {
    reaped r = co_await std::move(p);
    co_return std::pair<pid_t, int>(r.pid, r.status);
}
promise<std::tuple<pid_t, int, resource_usage>> as_tuple(promise<reaped> p) {
    reaped r = co_await std::move(p);
    co_return std::tuple<pid_t, int, resource_usage>(r.pid, r.status, r.usage);
}

}  // namespace

promise<std::pair<pid_t, int>> waitpid(std::initializer_list<wait_flag> flags, pid_t pid) {
    return as_pair(wait_impl(pid, options_of(flags), "waitpid"));
}
promise<std::pair<pid_t, int>> waitpid(pid_t pid) { return waitpid({}, pid); }
promise<std::tuple<pid_t, int, resource_usage>> wait4(std::initializer_list<wait_flag> flags, pid_t pid) {
    return as_tuple(wait_impl(pid, options_of(flags), "wait4"));
}
promise<std::pair<pid_t, int>> wait() { return waitpid({}, -1); }
int wait_count() noexcept { return registry().waits.load(std::memory_order_relaxed); }

}  // namespace lwt::unix_
