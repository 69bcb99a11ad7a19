// Lwt_unix's descriptors: file_descr, and what is done on one -- reading, writing, syncing,
// seeking, closing -- plus pipe().
#pragma once

#include <lwt/unix/error.hpp>
#include <lwt/unix/operation.hpp>

#include <fcntl.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

namespace lwt::detail {
struct fd_kind;
}  // namespace lwt::detail

namespace lwt::unix_ {

// An owning descriptor: closed when destroyed (synchronously), or by close() (an operation).
// Move-only. Operations take it by reference and read the number at the call.
class LWT_EXPORT file_descr {
public:
    file_descr() noexcept = default;
    // Takes ownership of an open descriptor (Lwt_unix.of_unix_file_descr).
    explicit file_descr(int fd) noexcept : fd_(fd) {}
    file_descr(file_descr&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    file_descr& operator=(file_descr&& o) noexcept;
    file_descr(const file_descr&) = delete;
    file_descr& operator=(const file_descr&) = delete;
    ~file_descr();

    int fd() const noexcept { return fd_; }  // -1 once closed
    bool is_open() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return is_open(); }
    // Gives up ownership: the caller closes the returned descriptor.
    int release() noexcept { return std::exchange(fd_, -1); }
    // Lwt_unix.close: operations still pending on the descriptor fail with EBADF; closing a
    // closed descriptor succeeds at once. A close cannot be cancelled: cancelling waits for
    // it. An operation (see operation.hpp): co_await it, or convert it to a promise<void>.
    operation<detail::fd_kind> close();

private:
    int fd_ = -1;
};

// Lwt_unix.stdin / stdout / stderr: the numbers 0, 1 and 2, not owned (never closed by the
// runtime; wrap one in a file_descr only to give it away).
LWT_EXPORT int stdin_fd() noexcept;
LWT_EXPORT int stdout_fd() noexcept;
LWT_EXPORT int stderr_fd() noexcept;

}  // namespace lwt::unix_

namespace lwt::detail {
// A read or write of bytes: gives the byte count.
struct transfer_kind {
    using value_type = std::size_t;
    static constexpr bool owns_result = false;
    struct extra {
        void point(io_op&) noexcept {}
    };
    static std::size_t value(const io_op& op, const extra&) noexcept { return static_cast<std::size_t>(op.res); }
};
// A call on a descriptor that gives nothing (close, fsync, fdatasync).
struct fd_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        void point(io_op&) noexcept {}
    };
    static void value(const io_op&, const extra&) noexcept {}
};
}  // namespace lwt::detail

namespace lwt::unix_ {

using transfer = operation<detail::transfer_kind>;
extern template class LWT_EXPORT operation<detail::transfer_kind>;
using fd_op = operation<detail::fd_kind>;
extern template class LWT_EXPORT operation<detail::fd_kind>;

LWT_EXPORT transfer read(const file_descr& fd, void* buf, std::size_t len);
LWT_EXPORT transfer write(const file_descr& fd, const void* buf, std::size_t len);
LWT_EXPORT transfer pread(const file_descr& fd, void* buf, std::size_t len, off_t offset);
LWT_EXPORT transfer pwrite(const file_descr& fd, const void* buf, std::size_t len, off_t offset);
// Scatter/gather: the iovec array must stay valid until the transfer completes.
LWT_EXPORT transfer readv(const file_descr& fd, std::span<const struct iovec> iov);
LWT_EXPORT transfer writev(const file_descr& fd, std::span<const struct iovec> iov);

// Span overloads for byte-like buffers (char, unsigned char, std::byte).
template <class B>
concept byte_like = sizeof(B) == 1 && std::is_trivially_copyable_v<B>;
template <byte_like B>
transfer read(const file_descr& fd, std::span<B> buf) {
    return read(fd, buf.data(), buf.size());
}
template <byte_like B>
transfer write(const file_descr& fd, std::span<const B> buf) {
    return write(fd, buf.data(), buf.size());
}
inline transfer write(const file_descr& fd, std::string_view s) { return write(fd, s.data(), s.size()); }

// Lwt_unix.close: as file_descr::close.
LWT_EXPORT fd_op close(file_descr& fd);
LWT_EXPORT fd_op fsync(const file_descr& fd);
LWT_EXPORT fd_op fdatasync(const file_descr& fd);

enum class seek_command { set = SEEK_SET, cur = SEEK_CUR, end = SEEK_END };
LWT_EXPORT promise<off_t> lseek(const file_descr& fd, off_t offset, seek_command whence);
LWT_EXPORT promise<void> ftruncate(const file_descr& fd, off_t length);

// Lwt_unix.pipe: (read end, write end), both close-on-exec (and non-blocking where the
// engine wants it).
LWT_EXPORT std::pair<file_descr, file_descr> pipe();
// Lwt_unix.pipe_in / pipe_out: a pipe whose other end is a plain blocking descriptor, for a
// child process or a thread (close-on-exec unless `cloexec` is false; lwt++ keeps its end).
// pipe_in: (the loop's read end, the other side's write end).
LWT_EXPORT std::pair<file_descr, int> pipe_in(bool cloexec = true);
// pipe_out: (the other side's read end, the loop's write end).
LWT_EXPORT std::pair<int, file_descr> pipe_out(bool cloexec = true);

// Permissions and owners through a descriptor: on the worker pool, as chmod and chown.
LWT_EXPORT promise<void> fchmod(const file_descr& fd, mode_t perm);
LWT_EXPORT promise<void> fchown(const file_descr& fd, uid_t owner, gid_t group);

// Lwt_unix.lockf: a lock on `size` bytes from the current position (0: to the end, however
// it grows). lock waits for it, on the worker pool; try_lock fails at once with unix_error
// EACCES or EAGAIN when another process holds it; test fails the same way if one does;
// unlock releases.
enum class lock_command { unlock = F_ULOCK, lock = F_LOCK, try_lock = F_TLOCK, test = F_TEST };
LWT_EXPORT promise<void> lockf(const file_descr& fd, lock_command cmd, off_t size);

// At once (no disk): Lwt_unix.isatty, dup, dup2, set_close_on_exec, clear_close_on_exec.
LWT_EXPORT promise<bool> isatty(const file_descr& fd);
// A new descriptor for the same file (close-on-exec unless `cloexec` is false).
LWT_EXPORT file_descr dup(const file_descr& fd, bool cloexec = true);
// `to` now names the file of `from` (operations pending on `to`'s old file end with EBADF
// first, as at a close).
LWT_EXPORT void dup2(const file_descr& from, file_descr& to, bool cloexec = true);
LWT_EXPORT void set_close_on_exec(const file_descr& fd);
LWT_EXPORT void clear_close_on_exec(const file_descr& fd);

}  // namespace lwt::unix_
