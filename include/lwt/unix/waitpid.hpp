// Lwt_unix.waitpid: waiting for a child process without blocking the loop.
#pragma once

#include <lwt/promise.hpp>

#include <sys/types.h>

#include <utility>

namespace lwt::unix_ {

// Lwt_unix.waitpid: waits for the child (through a pidfd) and reaps it. Returns the pid and
// the raw status (WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG apply).
LWT_EXPORT promise<std::pair<pid_t, int>> waitpid(pid_t pid);

}  // namespace lwt::unix_
