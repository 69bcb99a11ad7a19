// Lwt_unix's descriptors and the byte transfers on them. Each call validates its arguments
// synchronously (std::invalid_argument), then starts an operation<K> that holds its io_op:
// no allocation unless it is converted to a promise.
#include "operation_impl.hpp"
#include "support.hpp"

#include <lwt/unix/fd.hpp>

#include <fcntl.h>
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

std::pair<file_descr, file_descr> pipe() {
    int fds[2];
    int flags = O_CLOEXEC | (io_engine::current().wants_nonblocking() ? O_NONBLOCK : 0);
    if (::pipe2(fds, flags) != 0) throw_errno("pipe", "");
    return {file_descr(fds[0]), file_descr(fds[1])};
}

}  // namespace lwt::unix_
