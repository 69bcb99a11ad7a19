// Lwt_unix.waitpid, wait4, wait, wait_count: waiting for child processes without blocking
// the loop.
//
// A wait for one child (pid > 0) sleeps on a pidfd. A wait for any child (pid -1), for a
// process group (0, or -group) or for stops (wait_flag::wuntraced) sleeps until SIGCHLD
// (through on_signal, installed while such a wait is in progress) -- as does a wait for one
// child on kernels without pidfds (before 5.3).
//
// Waits for any child leave alone the children someone waits for by pid -- each
// lwt::process, and every waitpid(pid) in progress: if such a child is reaped by a wait for
// any child, its status is kept for its own waiter, and the wait for any child goes on. So
// waitpid(-1) and lwt::process can be used side by side.
#pragma once

#include <lwt/promise.hpp>

#include <sys/types.h>

#include <initializer_list>
#include <tuple>
#include <utility>

namespace lwt::unix_ {

// Lwt_unix.wait_flag.
enum class wait_flag {
    wnohang,    // report at once: (0, 0) if no child has anything to report
    wuntraced,  // report stopped children too (WIFSTOPPED)
};

// Lwt_unix.resource_usage: the CPU time the child used, in seconds.
struct resource_usage {
    double ru_utime = 0;  // user
    double ru_stime = 0;  // system
};

// Lwt_unix.waitpid: waits for a child to end and reaps it. pid > 0: that child; -1: any
// child; 0: any child in this process's group; < -1: any child in group -pid. Gives the
// child's pid and its raw status (WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG /
// WIFSTOPPED apply). No such child (or none left): unix_error ECHILD.
LWT_EXPORT promise<std::pair<pid_t, int>> waitpid(pid_t pid);
LWT_EXPORT promise<std::pair<pid_t, int>> waitpid(std::initializer_list<wait_flag> flags, pid_t pid);

// Lwt_unix.wait4: waitpid with the child's resource usage.
LWT_EXPORT promise<std::tuple<pid_t, int, resource_usage>> wait4(std::initializer_list<wait_flag> flags, pid_t pid);

// Lwt_unix.wait: waitpid(-1).
LWT_EXPORT promise<std::pair<pid_t, int>> wait();

// Lwt_unix.wait_count: the waits (of any of these functions, on any loop) in progress.
LWT_EXPORT int wait_count() noexcept;

}  // namespace lwt::unix_
