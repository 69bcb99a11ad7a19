// Lwt_unix's descriptors and the byte transfers on them. Each call validates its arguments
// synchronously (std::invalid_argument), then starts an operation<K> that holds its io_op:
// no allocation unless it is converted to a promise.
#include "operation_impl.hpp"
#include "support.hpp"

#include <lwt/unix/fd.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>

namespace lwt::unix_ {

using detail::check_buffer;
using detail::clamp_len;
using detail::fd_str;
using detail::io_kind;
using detail::throw_errno;

file_descr& file_descr::operator=(file_descr&& o) noexcept {
    if (this != &o) {
        file_descr old(std::move(*this));
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

file_descr::~file_descr() {
    if (fd_ >= 0) {
        if (io_engine* e = io_engine::current_if_any()) e->forget_fd(fd_);
        ::close(fd_);
    }
}

fd_op file_descr::close() {
    if (fd_ < 0) return fd_op(detail::finished_t{}, "close");
    io_engine& e = io_engine::current();  // (before the descriptor is let go: it may throw)
    int fd = std::exchange(fd_, -1);
    e.forget_fd(fd);
    return fd_op({.kind = io_kind::close, .fd = fd, .call = "close"});
}

fd_op close(file_descr& fd) { return fd.close(); }

int stdin_fd() noexcept { return 0; }
int stdout_fd() noexcept { return 1; }
int stderr_fd() noexcept { return 2; }

template class operation<detail::transfer_kind>;
template class operation<detail::fd_kind>;

namespace {

transfer rw(io_kind kind, const file_descr& fd, const void* buf, std::size_t len, std::uint64_t off,
            const char* call) {
    check_buffer(buf, len, call);
    return transfer(
        {.kind = kind, .fd = fd.fd(), .addr = const_cast<void*>(buf), .len = clamp_len(len), .off = off, .call = call});
}

std::uint64_t offset_of(off_t off, const char* call) {
    if (off < 0) throw std::invalid_argument(fmt::format("lwt::unix_::{}: negative offset {}", call, off));
    return static_cast<std::uint64_t>(off);
}

}  // namespace

transfer read(const file_descr& fd, void* buf, std::size_t len) {
    return rw(io_kind::read, fd, buf, len, detail::at_position, "read");
}
transfer write(const file_descr& fd, const void* buf, std::size_t len) {
    return rw(io_kind::write, fd, buf, len, detail::at_position, "write");
}
transfer pread(const file_descr& fd, void* buf, std::size_t len, off_t offset) {
    return rw(io_kind::read, fd, buf, len, offset_of(offset, "pread"), "pread");
}
transfer pwrite(const file_descr& fd, const void* buf, std::size_t len, off_t offset) {
    return rw(io_kind::write, fd, buf, len, offset_of(offset, "pwrite"), "pwrite");
}

namespace {
transfer rwv(io_kind kind, const file_descr& fd, std::span<const struct iovec> iov, const char* call) {
    if (iov.size() > IOV_MAX)
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: {} buffers (at most {})", call, iov.size(), IOV_MAX));
    for (const auto& v : iov) check_buffer(v.iov_base, v.iov_len, call);
    return transfer({.kind = kind,
                     .fd = fd.fd(),
                     .addr = const_cast<struct iovec*>(iov.data()),
                     .len = static_cast<std::uint32_t>(iov.size()),
                     .off = detail::at_position,
                     .call = call});
}
}  // namespace

transfer readv(const file_descr& fd, std::span<const struct iovec> iov) {
    return rwv(io_kind::readv, fd, iov, "readv");
}
transfer writev(const file_descr& fd, std::span<const struct iovec> iov) {
    return rwv(io_kind::writev, fd, iov, "writev");
}

fd_op fsync(const file_descr& fd) { return fd_op({.kind = io_kind::fsync, .fd = fd.fd(), .call = "fsync"}); }
fd_op fdatasync(const file_descr& fd) {
    return fd_op({.kind = io_kind::fsync, .fd = fd.fd(), .flags = 1 /* IORING_FSYNC_DATASYNC */, .call = "fdatasync"});
}

promise<off_t> lseek(const file_descr& fd, off_t offset, seek_command whence) {
    off_t r = ::lseek(fd.fd(), offset, static_cast<int>(whence));
    if (r < 0) return lwt::fail<off_t>(unix_error(errno, "lseek", fd_str(fd.fd())));
    return lwt::return_(r);
}

promise<void> ftruncate(const file_descr& fd, off_t length) {
    if (length < 0) throw std::invalid_argument("lwt::unix_::ftruncate: negative length");
    if (::ftruncate(fd.fd(), length) != 0) return lwt::fail(unix_error(errno, "ftruncate", fd_str(fd.fd())));
    return lwt::return_();
}

namespace {
// A pipe whose end `ours` (0: read, 1: write) the loop keeps (non-blocking where the engine
// wants it), the other a plain blocking descriptor.
std::pair<file_descr, int> half_pipe(int ours, bool cloexec, const char* call) {
    int fds[2];
    if (::pipe2(fds, cloexec ? O_CLOEXEC : 0) != 0) throw_errno(call, "");
    file_descr mine(fds[ours]);
    if (!cloexec) ::fcntl(mine.fd(), F_SETFD, FD_CLOEXEC);  // (ours is always close-on-exec)
    if (io_engine::current().wants_nonblocking()) ::fcntl(mine.fd(), F_SETFL, O_NONBLOCK);
    return {std::move(mine), fds[1 - ours]};
}
}  // namespace

std::pair<file_descr, int> pipe_in(bool cloexec) { return half_pipe(0, cloexec, "pipe_in"); }

std::pair<int, file_descr> pipe_out(bool cloexec) {
    auto [mine, other] = half_pipe(1, cloexec, "pipe_out");
    return {other, std::move(mine)};
}

// fchmod and fchown at once, not on a worker: a worker would find the descriptor by its
// number only when it runs, possibly after a close gave the number to another file (as
// fstat, see docs/architecture.md); they update an inode already in memory.
promise<void> fchmod(const file_descr& fd, mode_t perm) {
    if (::fchmod(fd.fd(), perm) != 0) return lwt::fail(unix_error(errno, "fchmod", fd_str(fd.fd())));
    return lwt::return_();
}

promise<void> fchown(const file_descr& fd, uid_t owner, gid_t group) {
    if (::fchown(fd.fd(), owner, group) != 0) return lwt::fail(unix_error(errno, "fchown", fd_str(fd.fd())));
    return lwt::return_();
}

promise<void> lockf(const file_descr& fd, lock_command cmd, off_t size) {
    const int n = fd.fd();
    // Waiting for a lock: on a worker (keep the descriptor open until it settles). A close of
    // any descriptor of the file releases the process's locks on it (POSIX): the worker
    // cannot lock through a copy of its own.
    if (cmd == lock_command::lock)
        return detail::on_worker("lockf", fd_str(n), [n, size] { return ::lockf(n, F_LOCK, size); });
    if (::lockf(n, static_cast<int>(cmd), size) != 0) return lwt::fail(unix_error(errno, "lockf", fd_str(n)));
    return lwt::return_();
}

promise<bool> isatty(const file_descr& fd) { return lwt::return_(::isatty(fd.fd()) == 1); }

file_descr dup(const file_descr& fd, bool cloexec) {
    int r = ::fcntl(fd.fd(), cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
    if (r < 0) throw_errno("dup", fd_str(fd.fd()));
    return file_descr(r);
}

void dup2(const file_descr& from, file_descr& to, bool cloexec) {
    if (!to) throw std::invalid_argument("lwt::unix_::dup2: the target descriptor is closed");
    if (from.fd() == to.fd()) return;
    if (io_engine* e = io_engine::current_if_any()) e->forget_fd(to.fd());  // (its old file's operations)
    if (::dup3(from.fd(), to.fd(), cloexec ? O_CLOEXEC : 0) < 0) throw_errno("dup2", fd_str(from.fd()));
}

void set_close_on_exec(const file_descr& fd) {
    if (::fcntl(fd.fd(), F_SETFD, FD_CLOEXEC) != 0) throw_errno("set_close_on_exec", fd_str(fd.fd()));
}

void clear_close_on_exec(const file_descr& fd) {
    if (::fcntl(fd.fd(), F_SETFD, 0) != 0) throw_errno("clear_close_on_exec", fd_str(fd.fd()));
}

std::pair<file_descr, file_descr> pipe() {
    int fds[2];
    int flags = O_CLOEXEC | (io_engine::current().wants_nonblocking() ? O_NONBLOCK : 0);
    if (::pipe2(fds, flags) != 0) throw_errno("pipe", "");
    return {file_descr(fds[0]), file_descr(fds[1])};
}

}  // namespace lwt::unix_
