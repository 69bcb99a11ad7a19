// Lwt_unix's readiness waits: a poll operation on the engine (io_kind::poll), for any
// descriptor number.
#include "support.hpp"

#include <lwt/unix/ready.hpp>

#include <poll.h>

namespace lwt::unix_ {

namespace {

// POLLIN's companions: a read does not block on an error, a hang-up or a peer's end either
// (poll(2) reports POLLERR and POLLHUP unasked; POLLRDHUP must be asked for).
constexpr short read_events = POLLIN | POLLRDHUP;

bool ready_now(int fd, short events, const char* call) {
    pollfd p{fd, events, 0};
    int r;
    do r = ::poll(&p, 1, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0) detail::throw_errno(call, detail::fd_str(fd));
    if (fd < 0 || (p.revents & POLLNVAL)) throw unix_error(EBADF, call, detail::fd_str(fd));
    return p.revents != 0;
}

}  // namespace

ready_op wait_read(int fd) {
    return ready_op({.kind = detail::io_kind::poll, .fd = fd, .flags = read_events, .call = "wait_read"});
}
ready_op wait_write(int fd) {
    return ready_op({.kind = detail::io_kind::poll, .fd = fd, .flags = POLLOUT, .call = "wait_write"});
}

bool readable(int fd) { return ready_now(fd, read_events, "readable"); }
bool writable(int fd) { return ready_now(fd, POLLOUT, "writable"); }

}  // namespace lwt::unix_
