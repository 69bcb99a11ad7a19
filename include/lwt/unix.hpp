// Lwt_unix: system calls on this thread's engine (io_uring, or epoll).
//
// Every system call the engine runs gives an `operation`: started at once like a promise (it
// is tried, or submitted, before the call returns) and completed on the loop, awaited
// without any allocation (the operation lives in it, inside the awaiting frame), and
// converted to a promise wherever one is needed. Cancelling an operation (lwt::cancel,
// pick, with_timeout) reaches the operation in flight (DESIGN rule 7): when the cancel
// returns, the kernel no longer touches the buffer; if the kernel had finished first, its
// result is delivered (bytes read), except an accepted or opened descriptor, which is
// closed and the operation reports lwt::canceled.
//
// Buffers passed to an operation must stay valid until its promise settles -- as with any
// asynchronous I/O. Every descriptor the runtime creates is close-on-exec; sends never raise
// SIGPIPE. Failures are lwt::unix_::unix_error (errno, the call, its argument); misuse is
// std::invalid_argument, thrown at the call.
#pragma once

#include <lwt/detail/engine.hpp>
#include <lwt/promise.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

namespace lwt::unix_ {

// ---------------------------------------------------------------------------------------
// Errors.

// Unix.Unix_error: errno (as code()), the failed call's name and its argument.
class LWT_EXPORT unix_error : public std::system_error {
public:
    unix_error() : unix_error(0, "", "") {}
    unix_error(int err, std::string call, std::string argument);
    int error() const noexcept { return code().value(); }  // the errno value
    const std::string& call() const noexcept { return call_; }
    const std::string& argument() const noexcept { return arg_; }

private:
    std::string call_;
    std::string arg_;
};

// Lwt_unix.Timeout.
struct LWT_EXPORT timeout_error : std::exception {
    const char* what() const noexcept override;
};

// ---------------------------------------------------------------------------------------
// Durations: seconds as a double (Lwt style) or any std::chrono::duration.

namespace detail {
LWT_EXPORT std::int64_t seconds_to_ns(double s, const char* who);
template <class D>
std::int64_t to_ns(D d, const char* who) {
    if constexpr (std::is_arithmetic_v<D>) {
        return seconds_to_ns(static_cast<double>(d), who);
    } else {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        if (ns < 0) return seconds_to_ns(-1.0, who);
        return ns;
    }
}
LWT_EXPORT promise<void> sleep_ns(std::int64_t ns);
LWT_EXPORT promise<void> timeout_ns(std::int64_t ns);
template <class T>
promise<T> timeout_as(promise<void> p) {
    co_await std::move(p);  // always rejected with timeout_error (or cancelled)
    throw timeout_error();
}
}  // namespace detail

template <class D>
concept duration_like = std::is_arithmetic_v<D> || requires(D d) { std::chrono::duration_cast<std::chrono::nanoseconds>(d); };

// Lwt_unix.sleep: resolves no earlier than d after the call (CLOCK_MONOTONIC); cancelable.
// A negative or NaN duration throws std::invalid_argument.
template <duration_like D>
promise<void> sleep(D d) {
    return detail::sleep_ns(detail::to_ns(d, "sleep"));
}

// Lwt_unix.timeout: rejected with timeout_error after d.
template <class T = void, duration_like D>
promise<T> timeout(D d) {
    auto ns = detail::to_ns(d, "timeout");
    if constexpr (std::is_void_v<T>)
        return detail::timeout_ns(ns);
    else
        return detail::timeout_as<T>(detail::timeout_ns(ns));
}

// Lwt_unix.with_timeout: pick({timeout<T>(d), f()}); f's synchronous throw becomes the
// rejection, and f is kept alive until its promise settles.
template <duration_like D, class F>
auto with_timeout(D d, F&& f) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<std::decay_t<F>&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::unix_::with_timeout: f must return an lwt::promise");
    using T = lwt::detail::promise_value_t<R>;
    auto t = timeout<T>(d);
    auto p = lwt::detail::invoke_to_promise(std::forward<F>(f));
    return lwt::pick(t, p);
}

// ---------------------------------------------------------------------------------------
// File descriptors.

namespace detail {
struct fd_kind;
}  // namespace detail
template <class K>
class operation;

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
    // it. An operation (see below): co_await it, or convert
    // it to a promise<void>.
    operation<detail::fd_kind> close();

private:
    int fd_ = -1;
};

// Lwt_unix.stdin / stdout / stderr, not owned (never closed by the runtime).
LWT_EXPORT int stdin_fd() noexcept;

// ---------------------------------------------------------------------------------------
// Operations.

namespace detail {
// What the call that returns an operation<K> asks of the kernel.
struct op_request {
    lwt::detail::io_kind kind;
    int fd;
    void* buf;
    std::uint32_t len;   // bytes, or iovecs for readv/writev
    std::uint64_t off;   // ~0: the current position
    int flags;
    const char* call;    // for errors: "read", "accept", ...
};
struct finished_t {};
struct at_once_t {};
}  // namespace detail

// One system call in flight, started by the call that returns it -- as eagerly as a
// promise: it is tried at once, or it is in the engine when the call returns. The byte
// transfers (read, write, pread, pwrite, readv, writev, recv, send) give a `transfer`,
// accept an `accept_op`, connect a `connect_op`, openfile an `open_op`, stat/lstat/fstat a
// `stat_op`, the path calls a `path_op`, close/fsync/fdatasync an `fd_op`, and so on:
//
//     std::size_t n = co_await lwt::unix_::read(fd, buf, sizeof buf);   // no allocation
//     lwt::promise<std::size_t> p = lwt::unix_::read(fd, buf, sizeof buf);  // a shared promise
//
// The operation lives inside the object (with what the kernel reads or writes beside the
// caller's buffers: an address, a path, a statx buffer), so it cannot move: await it where
// the call made it (a temporary in a co_await, or a local variable), or convert it to a
// promise (implicitly, or with lwt::promise p = ...; a named one with std::move(op)), which
// moves the operation into the promise's cell -- still in flight, even in the kernel (only
// an io_uring accept, recvfrom or stat the kernel already holds is cancelled and, unless it
// had finished, restarted -- never on a descriptor closed meanwhile: that is EBADF). main::run, bind, map, join, pick, both... convert for you.
// Awaiting gives the value, or throws what the promise would be rejected with (unix_error,
// lwt::canceled). It is cancelable like a promise: lwt::cancel(op), or cancelling the
// coroutine that awaits it. One coroutine awaits it at a time (a promise may have many);
// an accepted or opened descriptor is given once. Dropped unawaited, it goes on in the
// background like a dropped promise (a descriptor it gets meanwhile is closed). Destroyed
// while another coroutine awaits it, it is cancelled and that coroutine sees lwt::canceled.
//
// K describes the kind: its value_type, the `extra` data kept beside the io_op (with
// point(op), which aims the op's pointers at it, and -- where the kernel writes into it --
// copy_result(from)), value(op, extra) for a success, and whether the value owns a
// descriptor. A kind may also turn some failures into values (failure_value(errno)).
template <class K>
class operation {
public:
    using value_type = typename K::value_type;
    using extra_type = typename K::extra;
    using lwt_promise = promise<value_type>;  // what it converts to

    // Starts it (internal: the unix_ calls make operations). Throws only when this thread's
    // engine cannot be created.
    explicit operation(const detail::op_request& r, typename K::extra x = {});
    // One that succeeded without a system call (closing a closed descriptor).
    explicit operation(detail::finished_t, const char* call) noexcept;
    // One performed at the call, on this thread (fstat).
    operation(const detail::op_request& r, typename K::extra x, detail::at_once_t) noexcept;
    operation(const operation&) = delete;
    operation& operator=(const operation&) = delete;
    ~operation() {
        if (LWT_UNLIKELY(op_.phase == lwt::detail::io_phase::pending))
            abandon();
        else if constexpr (K::owns_result)
            if (op_.phase == lwt::detail::io_phase::done) discard();
    }

    // What an lwt coroutine's co_await uses: a handle, by value, since g++ 12 copies an
    // awaiter it gets by reference -- and the operation must not move.
    class awaiter {
    public:
        using lwt_native_awaiter = void;
        explicit awaiter(operation& o) noexcept : o_(o) {}
        bool await_ready() const noexcept { return o_.op_.phase == lwt::detail::io_phase::done; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            using lwt::detail::io_phase;
            lwt::detail::io_op& op = o_.op_;
            if (LWT_UNLIKELY(op.frame != nullptr || op.phase == io_phase::idle)) o_.misuse();
            auto& p = h.promise();
            // Cancelling the coroutine reaches the operation from here on -- also while the
            // trampoline is handed back, when deferred work may cancel it (op then records
            // its completion without resuming anyone).
            p.awaiting = &op;
            op.awaiting = &p.awaiting;
            p.suspending();
            if (LWT_UNLIKELY(op.phase == io_phase::done)) {
                p.awaiting = nullptr;
                return false;
            }
            op.frame = h.address();
            op.keys = p.keys;
            op.complete = &lwt::detail::resume_awaiter;
            return true;
        }
        value_type await_resume() {
            lwt::detail::io_op& op = o_.op_;
            op.frame = nullptr;  // nobody awaits it any more
            if (LWT_LIKELY(op.res >= 0 && !op.cancel_requested)) {
                if constexpr (K::owns_result) {
                    if (LWT_UNLIKELY(op.phase != lwt::detail::io_phase::done)) o_.misuse();  // given already
                    op.phase = lwt::detail::io_phase::idle;
                }
                return K::value(op, o_.x_);
            }
            return o_.outcome();
        }

    private:
        operation& o_;
    };
    awaiter lwt_awaiter() & noexcept { return awaiter(*this); }
    awaiter lwt_awaiter() && noexcept { return awaiter(*this); }

    // The operation as a promise (moved into its cell); the object is spent afterwards, so
    // a named one converts only when moved: lwt::promise p = std::move(op).
    operator promise<value_type>() &&;  // NOLINT(google-explicit-constructor)

    // Cancels the operation in flight (lwt::cancel(op)): when this returns the kernel no
    // longer touches the buffer, and awaiting gives the kernel's result if it finished
    // first, lwt::canceled otherwise.
    void cancel() noexcept;

private:
    void prepare(const detail::op_request& r) noexcept;
    [[noreturn]] void misuse() const;
    value_type outcome();
    void abandon() noexcept;
    void discard() noexcept;

    lwt::detail::io_op op_;
    const char* call_;
    typename K::extra x_;
};

namespace detail {
struct transfer_kind {
    using value_type = std::size_t;
    static constexpr bool owns_result = false;
    struct extra {
        void point(lwt::detail::io_op&) noexcept {}
    };
    static std::size_t value(const lwt::detail::io_op& op, const extra&) noexcept {
        return static_cast<std::size_t>(op.res);
    }
};
}  // namespace detail

// A read or write of bytes: gives the byte count.
using transfer = operation<detail::transfer_kind>;
extern template class LWT_EXPORT operation<detail::transfer_kind>;

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

namespace detail {
// A call on a descriptor that gives nothing (close, fsync, fdatasync).
struct fd_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        void point(lwt::detail::io_op&) noexcept {}
    };
    static void value(const lwt::detail::io_op&, const extra&) noexcept {}
};
}  // namespace detail

using fd_op = operation<detail::fd_kind>;
extern template class LWT_EXPORT operation<detail::fd_kind>;

// Lwt_unix.close: as file_descr::close.
LWT_EXPORT fd_op close(file_descr& fd);
LWT_EXPORT fd_op fsync(const file_descr& fd);
LWT_EXPORT fd_op fdatasync(const file_descr& fd);

enum class seek_command { set = SEEK_SET, cur = SEEK_CUR, end = SEEK_END };
LWT_EXPORT promise<off_t> lseek(const file_descr& fd, off_t offset, seek_command whence);
LWT_EXPORT promise<void> ftruncate(const file_descr& fd, off_t length);
LWT_EXPORT promise<void> truncate(std::string path, off_t length);

enum class file_kind { regular, directory, character, block, link, fifo, socket, unknown };

// Unix.stats.
struct stats {
    std::uint64_t dev = 0;
    std::uint64_t ino = 0;
    file_kind kind = file_kind::unknown;
    unsigned perm = 0;
    std::uint64_t nlink = 0;
    unsigned uid = 0;
    unsigned gid = 0;
    std::uint64_t rdev = 0;
    std::int64_t size = 0;
    double atime = 0, mtime = 0, ctime = 0;  // seconds since the epoch
};

namespace detail {
LWT_EXPORT stats of_statx(const struct ::statx& x) noexcept;

// The path (or two) a call names: the kernel copies it when it takes the request.
struct path_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        std::string path;
        std::string path2;  // rename's, link's and symlink's second path
        void point(lwt::detail::io_op& op) noexcept {
            op.addr = path.data();
            op.addr2 = path2.data();
        }
    };
    static void value(const lwt::detail::io_op&, const extra&) noexcept {}
};
struct open_kind {
    using value_type = file_descr;
    static constexpr bool owns_result = true;  // the new descriptor
    using extra = path_kind::extra;
    static file_descr value(const lwt::detail::io_op& op, const extra&) noexcept { return file_descr(op.res); }
};
// statx: the kernel fills `buf` when the call completes.
struct stat_kind {
    using value_type = stats;
    static constexpr bool owns_result = false;
    struct extra {
        std::string path;  // empty for fstat
        struct ::statx buf;
        void point(lwt::detail::io_op& op) noexcept {
            op.addr = path.data();
            op.addr2 = &buf;
        }
        void copy_result(const extra& from) noexcept { buf = from.buf; }
    };
    static stats value(const lwt::detail::io_op&, const extra& x) noexcept { return of_statx(x.buf); }
};
// A stat that only asks whether the path leads somewhere.
struct exists_kind {
    using value_type = bool;
    static constexpr bool owns_result = false;
    using extra = stat_kind::extra;
    static bool value(const lwt::detail::io_op&, const extra&) noexcept { return true; }
    static std::optional<bool> failure_value(int err) noexcept {
        if (err == ENOENT || err == ENOTDIR) return false;
        return std::nullopt;
    }
};
}  // namespace detail

// Calls on paths; each is an operation (see above), as are openfile and stat.
using path_op = operation<detail::path_kind>;
extern template class LWT_EXPORT operation<detail::path_kind>;
using open_op = operation<detail::open_kind>;
extern template class LWT_EXPORT operation<detail::open_kind>;
using stat_op = operation<detail::stat_kind>;
extern template class LWT_EXPORT operation<detail::stat_kind>;
using exists_op = operation<detail::exists_kind>;
extern template class LWT_EXPORT operation<detail::exists_kind>;

// Lwt_unix.openfile: flags are the O_* constants (O_CLOEXEC is always added).
LWT_EXPORT open_op openfile(std::string path, int flags, mode_t perm = 0644);
LWT_EXPORT stat_op stat(std::string path);
LWT_EXPORT stat_op lstat(std::string path);
LWT_EXPORT stat_op fstat(const file_descr& fd);
// True when stat would succeed; false when the path leads nowhere (ENOENT, ENOTDIR).
LWT_EXPORT exists_op file_exists(std::string path);
LWT_EXPORT path_op unlink(std::string path);
LWT_EXPORT path_op rename(std::string from, std::string to);
LWT_EXPORT path_op link(std::string target, std::string path);
LWT_EXPORT path_op symlink(std::string target, std::string path);
LWT_EXPORT promise<std::string> readlink(std::string path);
LWT_EXPORT path_op mkdir(std::string path, mode_t perm = 0755);
LWT_EXPORT path_op rmdir(std::string path);

// Directories: opendir/readdir/closedir (each on the worker pool) and the whole listing.
class LWT_EXPORT dir_handle {
public:
    dir_handle() noexcept = default;
    explicit dir_handle(void* d) noexcept : d_(d) {}
    dir_handle(dir_handle&& o) noexcept : d_(std::exchange(o.d_, nullptr)) {}
    dir_handle& operator=(dir_handle&& o) noexcept;
    ~dir_handle();
    void* get() const noexcept { return d_; }

private:
    void* d_ = nullptr;
};
LWT_EXPORT promise<dir_handle> opendir(std::string path);
// The next entry's name (including "." and ".."), or std::nullopt at the end.
LWT_EXPORT promise<std::optional<std::string>> readdir(dir_handle& d);
LWT_EXPORT promise<void> closedir(dir_handle& d);
// Every entry of the directory but "." and "..", in directory order.
LWT_EXPORT promise<std::vector<std::string>> files_of_directory(std::string path);

// Lwt_unix.pipe: (read end, write end), both close-on-exec (and non-blocking where the
// engine wants it).
LWT_EXPORT std::pair<file_descr, file_descr> pipe();

// ---------------------------------------------------------------------------------------
// Sockets.

// Unix.sockaddr: an IPv4, IPv6 or Unix-domain address.
class LWT_EXPORT sockaddr {
public:
    sockaddr() noexcept;
    // Numeric addresses only (no name resolution: see getaddrinfo); invalid_argument otherwise.
    static sockaddr inet(std::string_view host, std::uint16_t port);
    static sockaddr inet6(std::string_view host, std::uint16_t port);
    // A path; a leading '@' names an abstract socket (Linux).
    static sockaddr unix_(std::string_view path);
    static sockaddr from_raw(const struct ::sockaddr* sa, socklen_t len);

    int family() const noexcept;  // AF_INET, AF_INET6, AF_UNIX
    std::uint16_t port() const noexcept;  // 0 for Unix-domain addresses
    std::string host() const;            // the numeric address, or the path
    std::string to_string() const;       // "1.2.3.4:80", "[::1]:80", "unix:/path"
    const struct ::sockaddr* raw() const noexcept;
    struct ::sockaddr* raw() noexcept;
    socklen_t size() const noexcept { return len_; }
    void set_size(socklen_t n) noexcept { len_ = n; }
    static constexpr socklen_t capacity = 128;
    LWT_EXPORT friend bool operator==(const sockaddr& a, const sockaddr& b) noexcept;

private:
    alignas(8) unsigned char storage_[capacity];
    socklen_t len_ = 0;
};

enum class socket_domain { unix_ = AF_UNIX, inet = AF_INET, inet6 = AF_INET6 };
enum class socket_type { stream = SOCK_STREAM, dgram = SOCK_DGRAM, seqpacket = SOCK_SEQPACKET, raw = SOCK_RAW };
enum class shutdown_command { receive = SHUT_RD, send = SHUT_WR, all = SHUT_RDWR };

LWT_EXPORT file_descr socket(socket_domain domain, socket_type type, int protocol = 0);
LWT_EXPORT std::pair<file_descr, file_descr> socketpair(socket_domain domain, socket_type type, int protocol = 0);
LWT_EXPORT void bind(const file_descr& fd, const sockaddr& addr);
LWT_EXPORT void listen(const file_descr& fd, int backlog = 1024);
namespace detail {
struct accept_kind {
    using value_type = std::pair<file_descr, sockaddr>;
    static constexpr bool owns_result = true;  // the new descriptor
    struct extra {
        sockaddr peer;
        socklen_t len = sockaddr::capacity;
        void point(lwt::detail::io_op& op) noexcept {
            op.addr = peer.raw();
            op.addr2 = &len;
        }
        void copy_result(const extra& from) noexcept {
            peer = from.peer;
            len = from.len;
        }
    };
    static value_type value(const lwt::detail::io_op& op, extra& x) noexcept {
        x.peer.set_size(x.len);
        return {file_descr(op.res), x.peer};
    }
};
struct connect_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        sockaddr addr;
        void point(lwt::detail::io_op& op) noexcept {
            op.addr = addr.raw();
            op.len = addr.size();
        }
    };
    static void value(const lwt::detail::io_op&, const extra&) noexcept {}
};
}  // namespace detail

// An accept in flight: gives the connection and its peer's address.
using accept_op = operation<detail::accept_kind>;
extern template class LWT_EXPORT operation<detail::accept_kind>;
// A connect in flight.
using connect_op = operation<detail::connect_kind>;
extern template class LWT_EXPORT operation<detail::connect_kind>;

LWT_EXPORT accept_op accept(const file_descr& fd);
// Lwt_unix.accept_n: at least one and at most n connections (io_uring: multishot accept);
// the error that stopped the batch, if any, is reported with the connections accepted.
LWT_EXPORT promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n(
    const file_descr& fd, std::size_t n);
LWT_EXPORT connect_op connect(const file_descr& fd, const sockaddr& addr);
LWT_EXPORT void shutdown(const file_descr& fd, shutdown_command how);
LWT_EXPORT sockaddr getsockname(const file_descr& fd);
LWT_EXPORT sockaddr getpeername(const file_descr& fd);

LWT_EXPORT transfer recv(const file_descr& fd, void* buf, std::size_t len, int flags = 0);
LWT_EXPORT transfer send(const file_descr& fd, const void* buf, std::size_t len, int flags = 0);
namespace detail {
// recvmsg/sendmsg of one buffer: the message header and the address live here. The
// kernel writes the sender's address (and the header's lengths) when a recvfrom completes.
struct message {
    sockaddr addr;
    struct ::iovec iov{};
    struct ::msghdr msg{};
    message() noexcept = default;
    message(void* buf, std::size_t len, const sockaddr* to) noexcept : addr(to != nullptr ? *to : sockaddr()) {
        iov.iov_base = buf;
        iov.iov_len = len;
        msg.msg_namelen = to != nullptr ? to->size() : sockaddr::capacity;
        msg.msg_iovlen = 1;
    }
    void point(lwt::detail::io_op& op) noexcept {
        msg.msg_name = addr.raw();
        msg.msg_iov = &iov;
        op.addr = &msg;
    }
    void copy_result(const message& from) noexcept {
        addr = from.addr;
        msg.msg_namelen = from.msg.msg_namelen;
        msg.msg_flags = from.msg.msg_flags;
    }
};
struct recvfrom_kind {
    using value_type = std::pair<std::size_t, sockaddr>;
    static constexpr bool owns_result = false;
    using extra = message;
    static value_type value(const lwt::detail::io_op& op, extra& x) noexcept {
        x.addr.set_size(x.msg.msg_namelen);
        return {static_cast<std::size_t>(op.res), x.addr};
    }
};
struct sendto_kind {
    using value_type = std::size_t;
    static constexpr bool owns_result = false;
    using extra = message;
    static std::size_t value(const lwt::detail::io_op& op, const extra&) noexcept {
        return static_cast<std::size_t>(op.res);
    }
};
}  // namespace detail

// A datagram received (its size and sender) or sent.
using recvfrom_op = operation<detail::recvfrom_kind>;
extern template class LWT_EXPORT operation<detail::recvfrom_kind>;
using sendto_op = operation<detail::sendto_kind>;
extern template class LWT_EXPORT operation<detail::sendto_kind>;

LWT_EXPORT recvfrom_op recvfrom(const file_descr& fd, void* buf, std::size_t len, int flags = 0);
LWT_EXPORT sendto_op sendto(const file_descr& fd, const void* buf, std::size_t len, const sockaddr& to,
                            int flags = 0);

// Unix.socket_bool_option / socket_int_option / socket_optint_option / socket_float_option.
enum class socket_bool_option { so_debug, so_broadcast, so_reuseaddr, so_reuseport, so_keepalive, so_dontroute,
                                so_oobinline, so_acceptconn, tcp_nodelay, ipv6_only };
enum class socket_int_option { so_sndbuf, so_rcvbuf, so_error, so_type, so_rcvlowat, so_sndlowat };
enum class socket_optint_option { so_linger };
enum class socket_float_option { so_rcvtimeo, so_sndtimeo };

LWT_EXPORT void setsockopt(const file_descr& fd, socket_bool_option opt, bool v);
LWT_EXPORT bool getsockopt(const file_descr& fd, socket_bool_option opt);
LWT_EXPORT void setsockopt_int(const file_descr& fd, socket_int_option opt, int v);
LWT_EXPORT int getsockopt_int(const file_descr& fd, socket_int_option opt);
LWT_EXPORT void setsockopt_optint(const file_descr& fd, socket_optint_option opt, std::optional<int> v);
LWT_EXPORT std::optional<int> getsockopt_optint(const file_descr& fd, socket_optint_option opt);
LWT_EXPORT void setsockopt_float(const file_descr& fd, socket_float_option opt, double v);
LWT_EXPORT double getsockopt_float(const file_descr& fd, socket_float_option opt);

// ---------------------------------------------------------------------------------------
// Name resolution (on the worker pool: never blocks the loop).

struct addr_info {
    socket_domain domain = socket_domain::inet;
    socket_type type = socket_type::stream;
    int protocol = 0;
    sockaddr addr;
    std::string canonname;
};
struct getaddrinfo_options {
    std::optional<socket_domain> family;
    std::optional<socket_type> socktype;
    int protocol = 0;
    bool passive = false;       // AI_PASSIVE
    bool numeric_host = false;  // AI_NUMERICHOST
    bool canonname = false;     // AI_CANONNAME
};
// Unix.getaddrinfo: resolution failures give an empty list (as Unix does); a bad argument
// throws invalid_argument.
LWT_EXPORT promise<std::vector<addr_info>> getaddrinfo(std::string host, std::string service,
                                                        getaddrinfo_options opts = {});
struct name_info {
    std::string hostname;
    std::string service;
};
// Unix.getnameinfo: failures are unix_error (with the gai message in what()).
LWT_EXPORT promise<name_info> getnameinfo(const sockaddr& addr, bool numeric_host = false,
                                          bool numeric_service = false);

// ---------------------------------------------------------------------------------------
// Signals, processes, notifications.

// Lwt_unix.on_signal: f(signum) is called on this thread's loop each time the signal
// arrives, until the handler is disabled. While a handler exists, run() keeps waiting.
struct signal_handler_id {
    std::uint64_t id = 0;
};
LWT_EXPORT signal_handler_id on_signal(int signum, std::function<void(int)> f);
LWT_EXPORT void disable_signal_handler(signal_handler_id id);

// Lwt_unix.waitpid: waits for the child (through a pidfd) and reaps it. Returns the pid and
// the raw status (WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG apply).
LWT_EXPORT promise<std::pair<pid_t, int>> waitpid(pid_t pid);

// Lwt_unix.make_notification: an id that any thread may send; f runs on this thread's loop
// (once per sending, or only once if `once`). While registered, run() keeps waiting.
LWT_EXPORT int make_notification(std::function<void()> f, bool once = false);
// Thread-safe and async-signal-unsafe; unknown ids are ignored.
LWT_EXPORT void send_notification(int id);
LWT_EXPORT void stop_notification(int id);

}  // namespace lwt::unix_

namespace lwt {
// Lwt.cancel for an operation that is not (yet) a promise: see operation::cancel.
template <class K>
void cancel(unix_::operation<K>& op) noexcept {
    op.cancel();
}
}  // namespace lwt
