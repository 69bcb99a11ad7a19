// Lwt_unix.waitpid: a pidfd becomes readable when the child exits (a poll operation on the
// engine); without pidfds (kernels before 5.3), WNOHANG polls at a growing interval.
#include "support.hpp"

#include <lwt/unix/fd.hpp>
#include <lwt/unix/time.hpp>
#include <lwt/unix/waitpid.hpp>

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace lwt::unix_ {

namespace {

promise<std::pair<pid_t, int>> waitpid_impl(pid_t pid) {
    int pfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    file_descr pidfd(pfd >= 0 ? pfd : -1);
    std::int64_t backoff_ns = 1'000'000;
    for (;;) {
        int status = 0;
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) co_return std::pair<pid_t, int>(pid, status);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw unix_error(errno, "waitpid", std::to_string(pid));
        }
        if (pidfd) {
            // Readable once the process has exited.
            detail::io_awaiter a;
            a.op.kind = detail::io_kind::poll;
            a.op.fd = pidfd.fd();
            a.op.flags = POLLIN;
            auto done = co_await a;
            if (done.res < 0 || done.canceled) detail::result_slow(done, "waitpid", std::to_string(pid), false);
        } else {
            // No pidfd (kernel before 5.3): poll with a growing interval.
            co_await detail::sleep_ns(backoff_ns);
            backoff_ns = std::min<std::int64_t>(backoff_ns * 2, 100'000'000);
        }
    }
}

}  // namespace

promise<std::pair<pid_t, int>> waitpid(pid_t pid) {
    if (pid <= 0) throw std::invalid_argument("lwt::unix_::waitpid: pid must designate one child (> 0)");
    return waitpid_impl(pid);
}

}  // namespace lwt::unix_
