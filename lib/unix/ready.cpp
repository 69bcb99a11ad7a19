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

// The poll kind's own attempt (io_op.cpp: a poll(2) with no timeout, POLLNVAL as EBADF),
// made here at once.
bool ready_now(int fd, short events, const char* call) {
    if (fd < 0) throw unix_error(EBADF, call, detail::fd_str(fd));  // (poll(2) skips it)
    detail::io_op op;
    op.kind = detail::io_kind::poll;
    op.fd = fd;
    op.flags = events;
    std::int32_t r;
    do r = detail::perform_now(op);
    while (r == -EINTR);
    if (r == -EAGAIN) return false;
    if (r < 0) throw unix_error(-r, call, detail::fd_str(fd));
    return true;
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
