// Lwt_unix: system calls on this thread's engine. Each call validates its arguments
// synchronously (std::invalid_argument), then starts an operation<K> that holds its io_op
// (see detail/engine.hpp): no allocation unless it is converted to a promise.
#include <lwt/bind.hpp>
#include <lwt/detail/engine.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/unix.hpp>

#include <fmt/core.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/stat.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <csignal>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

namespace lwt::unix_ {

using lwt::detail::engine;
using lwt::detail::io_awaiter;
using lwt::detail::io_kind;
using lwt::detail::io_op;

// ---------------------------------------------------------------------------------------
// Errors.

namespace {
std::string describe(const std::string& call, const std::string& arg) { return fmt::format("{}({})", call, arg); }
}  // namespace

unix_error::unix_error(int err, std::string call, std::string argument)
    : std::system_error(err, std::generic_category(), describe(call, argument)),
      call_(std::move(call)),
      arg_(std::move(argument)) {}

const char* timeout_error::what() const noexcept { return "lwt::unix_::timeout_error"; }

namespace {

std::string quoted(const std::string& s) { return fmt::format("\"{}\"", s); }
std::string fd_str(int fd) { return std::to_string(fd); }

// The result of a finished operation: >= 0, or the failure thrown. `owns_result`: the result
// is a descriptor that must not leak when the operation was cancelled after it succeeded.
std::int32_t result_slow(const lwt::detail::io_result& op, const char* call, const std::string& arg,
                         bool owns_result) {
    std::int32_t r = op.res;
    if (op.canceled) {
        if (r == -ECANCELED || r == -EINTR) throw lwt::canceled();
        if (owns_result && r >= 0) {
            ::close(r);
            throw lwt::canceled();
        }
    }
    if (r >= 0) return r;
    if (r == -ECANCELED) r = -EBADF;  // its descriptor was closed under it
    throw unix_error(-r, call, arg);
}

void check_path(const std::string& path, const char* call) {
    if (path.find('\0') != std::string::npos)
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: path contains a NUL byte", call));
}

void check_buffer(const void* buf, std::size_t len, const char* call) {
    if (buf == nullptr && len > 0)
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: null buffer of length {}", call, len));
}

// Linux transfers at most this much in one read or write.
std::uint32_t clamp_len(std::size_t len) noexcept {
    constexpr std::size_t max = 0x7ffff000;
    return static_cast<std::uint32_t>(len < max ? len : max);
}

[[noreturn]] void throw_errno(const char* call, const std::string& arg) { throw unix_error(errno, call, arg); }

int cloexec_flags(int base) {
    return base | SOCK_CLOEXEC | (engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Time.

namespace detail {

std::int64_t seconds_to_ns(double s, const char* who) {
    if (!(s >= 0) || std::isinf(s))
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: invalid duration {}", who, s));
    double ns = s * 1e9;
    return ns >= 9.2e18 ? INT64_MAX / 2 : static_cast<std::int64_t>(std::ceil(ns));
}

namespace {

void cancel_timer(lwt::detail::cancelable* c) noexcept {
    auto* t = static_cast<lwt::detail::timer_node*>(static_cast<lwt::detail::state_base*>(c));
    if (t->index != lwt::detail::timer_node::npos) {
        static_cast<engine*>(t->engine)->remove_timer(t);
        lwt::detail::release(t);  // the heap's reference
    }
    lwt::detail::reject_canceled(t);
}

void timer_cancel_fn(lwt::detail::cancelable* self, lwt::detail::cancel_walk& w, lwt::detail::state_base*) {
    auto* t = static_cast<lwt::detail::timer_node*>(static_cast<lwt::detail::state_base*>(self));
    if (t->pending()) w.leaf(self, t, &cancel_timer);
}

}  // namespace

promise<void> sleep_ns(std::int64_t ns) {
    engine& e = engine::current();
    auto* t = new lwt::detail::timer_node();
    t->destroy_fn = [](lwt::detail::state_base* s) noexcept { delete static_cast<lwt::detail::timer_node*>(s); };
    t->cancel_fn = &timer_cancel_fn;
    t->engine = &e;
    // Measured from the call, not from the loop's last wake-up (rule 15).
    t->deadline = lwt::detail::monotonic_ns() + ns;
    t->refs = 2;  // the promise and the heap
    e.add_timer(t);
    return lwt::detail::adopt<void>(t);
}

namespace {
promise<void> timeout_impl(promise<void> s) {
    co_await std::move(s);
    throw timeout_error();
}
}  // namespace

promise<void> timeout_ns(std::int64_t ns) { return timeout_impl(sleep_ns(ns)); }

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Descriptors.

file_descr& file_descr::operator=(file_descr&& o) noexcept {
    if (this != &o) {
        file_descr old(std::move(*this));
        fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
}

file_descr::~file_descr() {
    if (fd_ >= 0) {
        if (engine* e = engine::current_if_any()) e->forget_fd(fd_);
        ::close(fd_);
    }
}

fd_op file_descr::close() {
    if (fd_ < 0) return fd_op(detail::finished_t{}, "close");
    engine& e = engine::current();  // (before the descriptor is let go: it may throw)
    int fd = std::exchange(fd_, -1);
    e.forget_fd(fd);
    return fd_op({io_kind::close, fd, nullptr, 0, 0, 0, "close"});
}

fd_op close(file_descr& fd) { return fd.close(); }

int stdin_fd() noexcept { return 0; }

// ---------------------------------------------------------------------------------------
// Reading and writing.

namespace {

// What an error names as the call's argument: the descriptor, unless the kind says more.
template <class K>
std::string error_arg(const io_op& op, const typename K::extra& x) {
    if constexpr (std::is_same_v<K, detail::connect_kind> || std::is_same_v<K, detail::sendto_kind>)
        return x.addr.to_string();
    else if constexpr (std::is_same_v<typename K::extra, detail::path_kind::extra>)
        return x.path2.empty() ? quoted(x.path) : quoted(x.path) + ", " + quoted(x.path2);
    else if constexpr (std::is_same_v<typename K::extra, detail::stat_kind::extra>)
        return op.fd == AT_FDCWD ? quoted(x.path) : fd_str(op.fd);
    else
        return fd_str(op.fd);
}

// The value of a finished operation that failed or was cancelled: the kernel's result if it
// finished first (an owned descriptor is closed instead: result_slow), else the failure.
template <class K>
typename K::value_type value_slow(io_op& op, typename K::extra& x, const char* call) {
    if constexpr (requires { K::failure_value(0); }) {
        if (op.res < 0)  // (also when a cancel came too late: the kernel's answer wins)
            if (auto v = K::failure_value(-op.res)) return *v;
    }
    std::int32_t r = result_slow({op.res, op.cancel_requested, 0}, call, error_arg<K>(op, x), K::owns_result);
    op.res = r;
    op.cancel_requested = false;
    return K::value(op, x);
}

// An operation converted to a promise: the promise's cell holds the operation itself, and
// the engine completes the cell directly, with no coroutine frame in between. The engine
// holds a reference while the operation is in flight, so the cell outlives a dropped promise.
template <class K>
struct op_cell final : lwt::detail::state<typename K::value_type>, lwt::detail::pooled {
    io_op op;
    typename K::extra x;
    const char* call = "";

    op_cell() noexcept {
        this->destroy_fn = [](lwt::detail::state_base* s) noexcept { delete static_cast<op_cell*>(s); };
        this->cancel_fn = &cancel_cell;
        op.complete = &complete;
        op.frame = this;
    }

    // The outcome of the finished operation, without running waiters.
    void take_result() noexcept {
        try {
            if constexpr (std::is_void_v<typename K::value_type>) {
                if (LWT_UNLIKELY(op.res < 0 || op.cancel_requested)) value_slow<K>(op, x, call);
                this->set_value();
            } else if (LWT_LIKELY(op.res >= 0 && !op.cancel_requested)) {
                this->set_value(K::value(op, x));
            } else {
                this->set_value(value_slow<K>(op, x, call));
            }
        } catch (...) {
            this->set_rejected(std::current_exception());
        }
    }
    static void complete(io_op* o) noexcept {
        auto* c = static_cast<op_cell*>(o->frame);
        c->take_result();
        lwt::detail::settle(c, false);
        lwt::detail::release(c);  // the engine's reference
    }
    static void cancel_action(lwt::detail::cancelable* self) noexcept {
        lwt::detail::cancel_op(static_cast<op_cell*>(static_cast<lwt::detail::state_base*>(self))->op);
    }
    static void cancel_cell(lwt::detail::cancelable* self, lwt::detail::cancel_walk& w, lwt::detail::state_base*) {
        auto* c = static_cast<op_cell*>(static_cast<lwt::detail::state_base*>(self));
        if (c->pending()) w.leaf(self, c, &cancel_action);
    }

    // Starts the operation described in `op` from here.
    void start(engine& e) noexcept {
        if (e.try_now(op)) {
            take_result();
        } else {
            lwt::detail::retain(this);
            e.submit(op);
        }
    }
};

void copy_request(const io_op& from, io_op& to) noexcept {
    to.kind = from.kind;
    to.fd = from.fd;
    to.flags = from.flags;
    to.len = from.len;
    to.off = from.off;
    to.addr = from.addr;
    to.addr2 = from.addr2;
}

// An unawaited operation records its completion; whoever looks next (await, conversion)
// finds the result in the io_op.
void note_done(io_op*) noexcept {}

}  // namespace

// The operation is tried at once; if it would have to wait, it is in the engine before the
// call returns. `this` is final: the operation is returned by guaranteed copy elision and
// never moves, so the engine may keep &op_ (and the kernel the address in x_).
template <class K>
operation<K>::operation(const detail::op_request& r, typename K::extra x) : call_(r.call), x_(std::move(x)) {
    prepare(r);
    engine& e = engine::current();
    if (!e.try_now(op_)) e.submit(op_);
}

template <class K>
operation<K>::operation(const detail::op_request& r, typename K::extra x, detail::at_once_t) noexcept
    : call_(r.call), x_(std::move(x)) {
    prepare(r);
    op_.res = lwt::detail::perform_now(op_);
    op_.phase = lwt::detail::io_phase::done;
}

template <class K>
void operation<K>::prepare(const detail::op_request& r) noexcept {
    op_.kind = r.kind;
    op_.fd = r.fd;
    op_.addr = r.buf;
    op_.len = r.len;
    op_.off = r.off;
    op_.flags = r.flags;
    x_.point(op_);
    op_.complete = &note_done;
}

template <class K>
operation<K>::operation(detail::finished_t, const char* call) noexcept : call_(call) {
    op_.phase = lwt::detail::io_phase::done;
    op_.res = 0;
}

template <class K>
void operation<K>::misuse() const {
    if (op_.phase == lwt::detail::io_phase::idle)
        throw std::logic_error(fmt::format(
            "lwt::unix_::{}: awaited after its result was given (awaited, or converted to a promise)", call_));
    throw std::logic_error(fmt::format(
        "lwt::unix_::{}: awaited by two coroutines at once (convert it to a promise to share it)", call_));
}

template <class K>
typename K::value_type operation<K>::outcome() {
    if constexpr (K::owns_result) op_.phase = lwt::detail::io_phase::idle;  // given (or closed) now
    return value_slow<K>(op_, x_, call_);
}

template <class K>
operation<K>::operator promise<typename K::value_type>() && {
    using lwt::detail::io_phase;
    if (op_.phase == io_phase::idle || op_.frame != nullptr) misuse();  // (frame: awaited now)
    auto* c = new op_cell<K>();
    promise<value_type> p = lwt::detail::adopt<value_type>(c);
    c->call = call_;
    copy_request(op_, c->op);
    if (op_.phase == io_phase::done) {
        c->x = std::move(x_);
        c->x.point(c->op);
        c->op.res = op_.res;
        c->op.cancel_requested = op_.cancel_requested;
        c->take_result();
    } else {
        // A copy: the kernel may still read what x_ holds (a path) until it lets go of op_.
        c->x = x_;
        c->x.point(c->op);
        engine& e = engine::current();
        if (e.relocate(op_, c->op)) {
            // Moved as it is (not yet handed to the kernel, or waiting in user space).
            lwt::detail::retain(c);
        } else {
            // The kernel will still use what lies next to op_ (an io_uring accept, statx or
            // recvmsg it has taken): take it back (synchronously), then go on from the cell
            // -- with the kernel's result if it finished first, or afresh if it had not
            // started (unless its fd was closed meanwhile: the number may be another file's
            // by now).
            const bool orphaned = op_.orphaned;
            e.cancel(op_);
            if constexpr (requires { c->x.copy_result(x_); }) c->x.copy_result(x_);  // what the kernel wrote
            const int r = op_.res;
            const bool performed = r != -ECANCELED && r != -EINTR && r != -EAGAIN;
            if (!performed && !orphaned) {
                c->start(e);
            } else {
                c->op.res = performed ? r : -EBADF;
                c->take_result();
            }
        }
    }
    op_.phase = io_phase::idle;
    return p;
}

template <class K>
void operation<K>::cancel() noexcept {
    lwt::detail::cancel_op(op_);
}

// Destroyed while the operation is in flight. Dropped unawaited, it goes on from a cell of
// its own (as a dropped promise would). Awaited by a coroutine (not the one whose frame held
// it: a suspended frame is never destroyed), it is cancelled: that coroutine resumes here,
// while op_ is still alive for its await_resume, and sees lwt::canceled.
template <class K>
void operation<K>::abandon() noexcept {
    if (op_.frame == nullptr) {
        try {
            promise<value_type> detached = std::move(*this);
            return;
        } catch (...) {  // no memory for a cell: stop it rather than leave &op_ in the kernel
            op_.complete = &note_done;
        }
    }
    engine::current().cancel(op_);
    discard();
}

// Finished, never given: a descriptor it holds is closed.
template <class K>
void operation<K>::discard() noexcept {
    if constexpr (K::owns_result)
        if (op_.phase == lwt::detail::io_phase::done && op_.res >= 0) ::close(op_.res);
    op_.phase = lwt::detail::io_phase::idle;
}

template class operation<detail::transfer_kind>;
template class operation<detail::accept_kind>;
template class operation<detail::connect_kind>;
template class operation<detail::fd_kind>;
template class operation<detail::path_kind>;
template class operation<detail::open_kind>;
template class operation<detail::stat_kind>;
template class operation<detail::exists_kind>;
template class operation<detail::recvfrom_kind>;
template class operation<detail::sendto_kind>;

namespace {

transfer rw(io_kind kind, const file_descr& fd, const void* buf, std::size_t len, std::uint64_t off,
            const char* call) {
    check_buffer(buf, len, call);
    return transfer({kind, fd.fd(), const_cast<void*>(buf), clamp_len(len), off, 0, call});
}

std::uint64_t offset_of(off_t off, const char* call) {
    if (off < 0) throw std::invalid_argument(fmt::format("lwt::unix_::{}: negative offset {}", call, off));
    return static_cast<std::uint64_t>(off);
}

constexpr std::uint64_t at_position = ~std::uint64_t{0};

}  // namespace

transfer read(const file_descr& fd, void* buf, std::size_t len) {
    return rw(io_kind::read, fd, buf, len, at_position, "read");
}
transfer write(const file_descr& fd, const void* buf, std::size_t len) {
    return rw(io_kind::write, fd, buf, len, at_position, "write");
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
    return transfer({kind, fd.fd(), const_cast<struct iovec*>(iov.data()), static_cast<std::uint32_t>(iov.size()),
                     at_position, 0, call});
}
}  // namespace

transfer readv(const file_descr& fd, std::span<const struct iovec> iov) {
    return rwv(io_kind::readv, fd, iov, "readv");
}
transfer writev(const file_descr& fd, std::span<const struct iovec> iov) {
    return rwv(io_kind::writev, fd, iov, "writev");
}

fd_op fsync(const file_descr& fd) { return fd_op({io_kind::fsync, fd.fd(), nullptr, 0, 0, 0, "fsync"}); }
fd_op fdatasync(const file_descr& fd) { return fd_op({io_kind::fsync, fd.fd(), nullptr, 0, 0, 1, "fdatasync"}); }

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

promise<void> truncate(std::string path, off_t length) {
    check_path(path, "truncate");
    if (length < 0) throw std::invalid_argument("lwt::unix_::truncate: negative length");
    if (::truncate(path.c_str(), length) != 0) return lwt::fail(unix_error(errno, "truncate", quoted(path)));
    return lwt::return_();
}

// ---------------------------------------------------------------------------------------
// Paths.

namespace {

file_kind kind_of(mode_t m) {
    if (S_ISREG(m)) return file_kind::regular;
    if (S_ISDIR(m)) return file_kind::directory;
    if (S_ISCHR(m)) return file_kind::character;
    if (S_ISBLK(m)) return file_kind::block;
    if (S_ISLNK(m)) return file_kind::link;
    if (S_ISFIFO(m)) return file_kind::fifo;
    if (S_ISSOCK(m)) return file_kind::socket;
    return file_kind::unknown;
}

double seconds(const struct statx_timestamp& t) { return static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9; }

constexpr std::uint64_t at_cwd = static_cast<std::uint64_t>(static_cast<std::int64_t>(AT_FDCWD));

// A call on one or two paths (checked here: a NUL byte would cut them short).
path_op on_paths(io_kind kind, int flags, std::uint32_t mode, std::string path, std::string path2,
                 const char* call) {
    check_path(path, call);
    check_path(path2, call);
    return path_op({kind, AT_FDCWD, nullptr, mode, at_cwd, flags, call}, {std::move(path), std::move(path2)});
}

// A statx of a path (fstat is performed at the call instead).
template <class Op>
Op statx_op(std::string path, int flags, const char* call) {
    check_path(path, call);
    typename Op::extra_type x;
    x.path = std::move(path);
    return Op({io_kind::statx, AT_FDCWD, nullptr, STATX_BASIC_STATS, 0, flags, call}, std::move(x));
}

}  // namespace

namespace detail {
stats of_statx(const struct ::statx& x) noexcept {
    stats s;
    s.dev = makedev(x.stx_dev_major, x.stx_dev_minor);
    s.ino = x.stx_ino;
    s.kind = kind_of(x.stx_mode);
    s.perm = x.stx_mode & 07777;
    s.nlink = x.stx_nlink;
    s.uid = x.stx_uid;
    s.gid = x.stx_gid;
    s.rdev = makedev(x.stx_rdev_major, x.stx_rdev_minor);
    s.size = static_cast<std::int64_t>(x.stx_size);
    s.atime = seconds(x.stx_atime);
    s.mtime = seconds(x.stx_mtime);
    s.ctime = seconds(x.stx_ctime);
    return s;
}
}  // namespace detail

open_op openfile(std::string path, int flags, mode_t perm) {
    check_path(path, "openfile");
    return open_op({io_kind::openat, AT_FDCWD, nullptr, perm, 0, flags, "open"}, {std::move(path), {}});
}

stat_op stat(std::string path) { return statx_op<stat_op>(std::move(path), 0, "stat"); }
stat_op lstat(std::string path) { return statx_op<stat_op>(std::move(path), AT_SYMLINK_NOFOLLOW, "lstat"); }
// At the call, on both engines: a descriptor's attributes need no path lookup (a system
// call of about a microsecond), where io_uring would hand the statx to a worker thread that
// finds the descriptor by its number only -- possibly after it was closed and reused.
stat_op fstat(const file_descr& fd) {
    return stat_op({io_kind::statx, fd.fd(), nullptr, STATX_BASIC_STATS, 0, AT_EMPTY_PATH, "fstat"}, {},
                   detail::at_once_t{});
}
exists_op file_exists(std::string path) {
    return statx_op<exists_op>(std::move(path), 0, "file_exists");
}

path_op unlink(std::string path) { return on_paths(io_kind::unlinkat, 0, 0, std::move(path), {}, "unlink"); }
path_op rmdir(std::string path) {
    return on_paths(io_kind::unlinkat, AT_REMOVEDIR, 0, std::move(path), {}, "rmdir");
}
path_op mkdir(std::string path, mode_t perm) {
    return on_paths(io_kind::mkdirat, 0, perm, std::move(path), {}, "mkdir");
}
path_op rename(std::string from, std::string to) {
    if (to.empty()) throw std::invalid_argument("lwt::unix_::rename: empty destination");
    return on_paths(io_kind::renameat, 0, 0, std::move(from), std::move(to), "rename");
}
path_op link(std::string target, std::string path) {
    if (path.empty()) throw std::invalid_argument("lwt::unix_::link: empty path");
    return on_paths(io_kind::linkat, 0, 0, std::move(target), std::move(path), "link");
}
path_op symlink(std::string target, std::string path) {
    if (path.empty()) throw std::invalid_argument("lwt::unix_::symlink: empty path");
    return on_paths(io_kind::symlinkat, 0, 0, std::move(target), std::move(path), "symlink");
}

promise<std::string> readlink(std::string path) {
    check_path(path, "readlink");
    std::string buf(256, '\0');
    for (;;) {
        ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
        if (n < 0) return lwt::fail<std::string>(unix_error(errno, "readlink", quoted(path)));
        if (static_cast<std::size_t>(n) < buf.size()) {
            buf.resize(static_cast<std::size_t>(n));
            return lwt::return_(std::move(buf));
        }
        buf.resize(buf.size() * 2);
    }
}

// ---------------------------------------------------------------------------------------
// Directories (the worker pool: readdir has no asynchronous form).

dir_handle& dir_handle::operator=(dir_handle&& o) noexcept {
    if (this != &o) {
        if (d_ != nullptr) ::closedir(static_cast<DIR*>(d_));
        d_ = std::exchange(o.d_, nullptr);
    }
    return *this;
}

dir_handle::~dir_handle() {
    if (d_ != nullptr) ::closedir(static_cast<DIR*>(d_));
}

promise<dir_handle> opendir(std::string path) {
    check_path(path, "opendir");
    return lwt::map([](void* d) { return dir_handle(d); }, preemptive::detach([path]() -> void* {
                        DIR* d = ::opendir(path.c_str());
                        if (d == nullptr) throw unix_error(errno, "opendir", quoted(path));
                        return d;
                    }));
}

promise<std::optional<std::string>> readdir(dir_handle& d) {
    if (d.get() == nullptr) throw std::invalid_argument("lwt::unix_::readdir: closed directory handle");
    return preemptive::detach([dir = static_cast<DIR*>(d.get())]() -> std::optional<std::string> {
        errno = 0;
        dirent* e = ::readdir(dir);
        if (e == nullptr) {
            if (errno != 0) throw unix_error(errno, "readdir", "");
            return std::nullopt;
        }
        return std::string(e->d_name);
    });
}

promise<void> closedir(dir_handle& d) {
    dir_handle taken(std::move(d));
    return lwt::return_();  // `taken` closes the stream
}

promise<std::vector<std::string>> files_of_directory(std::string path) {
    check_path(path, "files_of_directory");
    return preemptive::detach([path]() {
        DIR* d = ::opendir(path.c_str());
        if (d == nullptr) throw unix_error(errno, "opendir", quoted(path));
        std::vector<std::string> out;
        errno = 0;
        while (dirent* e = ::readdir(d)) {
            if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
            errno = 0;
        }
        int err = errno;
        ::closedir(d);
        if (err != 0) throw unix_error(err, "readdir", quoted(path));
        return out;
    });
}

std::pair<file_descr, file_descr> pipe() {
    int fds[2];
    int flags = O_CLOEXEC | (engine::current().wants_nonblocking() ? O_NONBLOCK : 0);
    if (::pipe2(fds, flags) != 0) throw_errno("pipe", "");
    return {file_descr(fds[0]), file_descr(fds[1])};
}

// ---------------------------------------------------------------------------------------
// Addresses.

sockaddr::sockaddr() noexcept { std::memset(storage_, 0, sizeof storage_); }

sockaddr sockaddr::inet(std::string_view host, std::uint16_t port) {
    sockaddr a;
    auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::string h(host);
    if (::inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1)
        throw std::invalid_argument(fmt::format("lwt::unix_::sockaddr::inet: not an IPv4 address: \"{}\"", h));
    a.len_ = sizeof(sockaddr_in);
    return a;
}

sockaddr sockaddr::inet6(std::string_view host, std::uint16_t port) {
    sockaddr a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::string h(host);
    if (::inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1)
        throw std::invalid_argument(fmt::format("lwt::unix_::sockaddr::inet6: not an IPv6 address: \"{}\"", h));
    a.len_ = sizeof(sockaddr_in6);
    return a;
}

sockaddr sockaddr::unix_(std::string_view path) {
    sockaddr a;
    auto* sun = reinterpret_cast<sockaddr_un*>(a.storage_);
    sun->sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sun->sun_path || path.find('\0') != std::string_view::npos)
        throw std::invalid_argument(
            fmt::format("lwt::unix_::sockaddr::unix_: bad path \"{}\" (1 to {} bytes, no NUL)", path,
                        sizeof sun->sun_path - 1));
    std::memcpy(sun->sun_path, path.data(), path.size());
    if (path[0] == '@') sun->sun_path[0] = '\0';  // abstract namespace
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
    return a;
}

sockaddr sockaddr::from_raw(const struct ::sockaddr* sa, socklen_t len) {
    if (len > capacity) throw std::invalid_argument("lwt::unix_::sockaddr::from_raw: address too long");
    sockaddr a;
    std::memcpy(a.storage_, sa, len);
    a.len_ = len;
    return a;
}

int sockaddr::family() const noexcept { return reinterpret_cast<const struct ::sockaddr*>(storage_)->sa_family; }

std::uint16_t sockaddr::port() const noexcept {
    switch (family()) {
        case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
        case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port);
        default: return 0;
    }
}

std::string sockaddr::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (family()) {
        case AF_INET: ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr, buf, sizeof buf); return buf;
        case AF_INET6:
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr, buf, sizeof buf);
            return buf;
        case AF_UNIX: {
            auto* sun = reinterpret_cast<const sockaddr_un*>(storage_);
            std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
            if (n == 0) return "";
            if (sun->sun_path[0] == '\0') return "@" + std::string(sun->sun_path + 1, n - 1);
            return std::string(sun->sun_path, strnlen(sun->sun_path, n));
        }
        default: return "";
    }
}

std::string sockaddr::to_string() const {
    switch (family()) {
        case AF_INET: return fmt::format("{}:{}", host(), port());
        case AF_INET6: return fmt::format("[{}]:{}", host(), port());
        case AF_UNIX: return "unix:" + host();
        default: return "<unknown address>";
    }
}

const struct ::sockaddr* sockaddr::raw() const noexcept { return reinterpret_cast<const struct ::sockaddr*>(storage_); }
struct ::sockaddr* sockaddr::raw() noexcept { return reinterpret_cast<struct ::sockaddr*>(storage_); }

bool operator==(const sockaddr& a, const sockaddr& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(a.storage_, b.storage_, a.len_) == 0;
}

// ---------------------------------------------------------------------------------------
// Sockets.

file_descr socket(socket_domain domain, socket_type type, int protocol) {
    int fd = ::socket(static_cast<int>(domain), cloexec_flags(static_cast<int>(type)), protocol);
    if (fd < 0) throw_errno("socket", "");
    return file_descr(fd);
}

std::pair<file_descr, file_descr> socketpair(socket_domain domain, socket_type type, int protocol) {
    int fds[2];
    if (::socketpair(static_cast<int>(domain), cloexec_flags(static_cast<int>(type)), protocol, fds) != 0)
        throw_errno("socketpair", "");
    return {file_descr(fds[0]), file_descr(fds[1])};
}

void bind(const file_descr& fd, const sockaddr& addr) {
    if (::bind(fd.fd(), addr.raw(), addr.size()) != 0) throw_errno("bind", addr.to_string());
}

void listen(const file_descr& fd, int backlog) {
    if (::listen(fd.fd(), backlog) != 0) throw_errno("listen", fd_str(fd.fd()));
    // Non-blocking, so that accept_n can take what is queued without waiting (io_uring
    // waits for readiness itself when it meets EAGAIN).
    int fl = ::fcntl(fd.fd(), F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd.fd(), F_SETFL, fl | O_NONBLOCK);
}

namespace {

accept_op accept_on(int fd) {
    int flags = engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0;
    return accept_op({io_kind::accept, fd, nullptr, 0, 0, flags, "accept"});
}

promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n_impl(int fd,
                                                                                                 std::size_t n) {
    std::vector<std::pair<file_descr, sockaddr>> out;
    std::exception_ptr err;
    out.push_back(co_await accept_on(fd));  // the first one may wait; its failure rejects
    int flags = SOCK_CLOEXEC | (engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0);
    while (out.size() < n) {
        // The rest: only what is ready already -- accepted ahead by the engine (io_uring's
        // multishot accept), else queued in the kernel (the listening socket is non-blocking).
        sockaddr peer;
        socklen_t len = sockaddr::capacity;
        int c = engine::current().take_accepted(fd);
        if (c >= 0) {
            if (::getpeername(c, peer.raw(), &len) != 0) len = 0;  // (reset already: its first read says so)
        } else if (c == -EAGAIN) {
            c = ::accept4(fd, peer.raw(), &len, flags);
            if (c < 0) c = -errno;
        }
        if (c < 0) {
            if (c != -EAGAIN && c != -EWOULDBLOCK && c != -EINTR)
                err = std::make_exception_ptr(unix_error(-c, "accept", fd_str(fd)));
            break;
        }
        peer.set_size(len);
        out.emplace_back(file_descr(c), peer);
    }
    co_return std::make_pair(std::move(out), err);
}

}  // namespace

accept_op accept(const file_descr& fd) { return accept_on(fd.fd()); }

promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n(const file_descr& fd,
                                                                                            std::size_t n) {
    if (n == 0) throw std::invalid_argument("lwt::unix_::accept_n: n must be at least 1");
    return accept_n_impl(fd.fd(), n);
}

connect_op connect(const file_descr& fd, const sockaddr& addr) {
    return connect_op({io_kind::connect, fd.fd(), nullptr, 0, 0, 0, "connect"}, {addr});
}

void shutdown(const file_descr& fd, shutdown_command how) {
    if (::shutdown(fd.fd(), static_cast<int>(how)) != 0) throw_errno("shutdown", fd_str(fd.fd()));
}

sockaddr getsockname(const file_descr& fd) {
    sockaddr a;
    socklen_t len = sockaddr::capacity;
    if (::getsockname(fd.fd(), a.raw(), &len) != 0) throw_errno("getsockname", fd_str(fd.fd()));
    a.set_size(len);
    return a;
}

sockaddr getpeername(const file_descr& fd) {
    sockaddr a;
    socklen_t len = sockaddr::capacity;
    if (::getpeername(fd.fd(), a.raw(), &len) != 0) throw_errno("getpeername", fd_str(fd.fd()));
    a.set_size(len);
    return a;
}

transfer recv(const file_descr& fd, void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "recv");
    return transfer({io_kind::recv, fd.fd(), buf, clamp_len(len), ~std::uint64_t{0}, flags, "recv"});
}

transfer send(const file_descr& fd, const void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "send");
    return transfer({io_kind::send, fd.fd(), const_cast<void*>(buf), clamp_len(len), ~std::uint64_t{0}, flags, "send"});
}

recvfrom_op recvfrom(const file_descr& fd, void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "recvfrom");
    return recvfrom_op({io_kind::recvmsg, fd.fd(), nullptr, 0, 0, flags, "recvfrom"},
                       detail::message(buf, clamp_len(len), nullptr));
}

sendto_op sendto(const file_descr& fd, const void* buf, std::size_t len, const sockaddr& to, int flags) {
    check_buffer(buf, len, "sendto");
    return sendto_op({io_kind::sendmsg, fd.fd(), nullptr, 0, 0, flags, "sendto"},
                     detail::message(const_cast<void*>(buf), clamp_len(len), &to));
}

// ---------------------------------------------------------------------------------------
// Socket options.

namespace {

std::pair<int, int> level_name(socket_bool_option o) {
    switch (o) {
        case socket_bool_option::so_debug: return {SOL_SOCKET, SO_DEBUG};
        case socket_bool_option::so_broadcast: return {SOL_SOCKET, SO_BROADCAST};
        case socket_bool_option::so_reuseaddr: return {SOL_SOCKET, SO_REUSEADDR};
        case socket_bool_option::so_reuseport: return {SOL_SOCKET, SO_REUSEPORT};
        case socket_bool_option::so_keepalive: return {SOL_SOCKET, SO_KEEPALIVE};
        case socket_bool_option::so_dontroute: return {SOL_SOCKET, SO_DONTROUTE};
        case socket_bool_option::so_oobinline: return {SOL_SOCKET, SO_OOBINLINE};
        case socket_bool_option::so_acceptconn: return {SOL_SOCKET, SO_ACCEPTCONN};
        case socket_bool_option::tcp_nodelay: return {IPPROTO_TCP, TCP_NODELAY};
        case socket_bool_option::ipv6_only: return {IPPROTO_IPV6, IPV6_V6ONLY};
    }
    throw std::invalid_argument("lwt::unix_: unknown socket option");
}

std::pair<int, int> level_name(socket_int_option o) {
    switch (o) {
        case socket_int_option::so_sndbuf: return {SOL_SOCKET, SO_SNDBUF};
        case socket_int_option::so_rcvbuf: return {SOL_SOCKET, SO_RCVBUF};
        case socket_int_option::so_error: return {SOL_SOCKET, SO_ERROR};
        case socket_int_option::so_type: return {SOL_SOCKET, SO_TYPE};
        case socket_int_option::so_rcvlowat: return {SOL_SOCKET, SO_RCVLOWAT};
        case socket_int_option::so_sndlowat: return {SOL_SOCKET, SO_SNDLOWAT};
    }
    throw std::invalid_argument("lwt::unix_: unknown socket option");
}

int get_int(const file_descr& fd, std::pair<int, int> ln) {
    int v = 0;
    socklen_t len = sizeof v;
    if (::getsockopt(fd.fd(), ln.first, ln.second, &v, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return v;
}

void set_int(const file_descr& fd, std::pair<int, int> ln, int v) {
    if (::setsockopt(fd.fd(), ln.first, ln.second, &v, sizeof v) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

}  // namespace

void setsockopt(const file_descr& fd, socket_bool_option opt, bool v) { set_int(fd, level_name(opt), v ? 1 : 0); }
bool getsockopt(const file_descr& fd, socket_bool_option opt) { return get_int(fd, level_name(opt)) != 0; }
void setsockopt_int(const file_descr& fd, socket_int_option opt, int v) { set_int(fd, level_name(opt), v); }
int getsockopt_int(const file_descr& fd, socket_int_option opt) { return get_int(fd, level_name(opt)); }

void setsockopt_optint(const file_descr& fd, socket_optint_option, std::optional<int> v) {
    linger l{v.has_value() ? 1 : 0, v.value_or(0)};
    if (::setsockopt(fd.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

std::optional<int> getsockopt_optint(const file_descr& fd, socket_optint_option) {
    linger l{};
    socklen_t len = sizeof l;
    if (::getsockopt(fd.fd(), SOL_SOCKET, SO_LINGER, &l, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return l.l_onoff ? std::optional<int>(l.l_linger) : std::nullopt;
}

void setsockopt_float(const file_descr& fd, socket_float_option opt, double v) {
    if (!(v >= 0)) throw std::invalid_argument("lwt::unix_::setsockopt_float: negative or NaN timeout");
    timeval tv{static_cast<time_t>(v), static_cast<suseconds_t>((v - std::floor(v)) * 1e6)};
    int name = opt == socket_float_option::so_rcvtimeo ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (::setsockopt(fd.fd(), SOL_SOCKET, name, &tv, sizeof tv) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

double getsockopt_float(const file_descr& fd, socket_float_option opt) {
    timeval tv{};
    socklen_t len = sizeof tv;
    int name = opt == socket_float_option::so_rcvtimeo ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (::getsockopt(fd.fd(), SOL_SOCKET, name, &tv, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return static_cast<double>(tv.tv_sec) + tv.tv_usec * 1e-6;
}

// ---------------------------------------------------------------------------------------
// Name resolution.

promise<std::vector<addr_info>> getaddrinfo(std::string host, std::string service, getaddrinfo_options opts) {
    if (host.find('\0') != std::string::npos || service.find('\0') != std::string::npos)
        throw std::invalid_argument("lwt::unix_::getaddrinfo: NUL byte in host or service");
    return preemptive::detach([host, service, opts]() {
        addrinfo hints{};
        hints.ai_family = opts.family ? static_cast<int>(*opts.family) : AF_UNSPEC;
        hints.ai_socktype = opts.socktype ? static_cast<int>(*opts.socktype) : 0;
        hints.ai_protocol = opts.protocol;
        hints.ai_flags = (opts.passive ? AI_PASSIVE : 0) | (opts.numeric_host ? AI_NUMERICHOST : 0) |
                         (opts.canonname ? AI_CANONNAME : 0);
        addrinfo* res = nullptr;
        std::vector<addr_info> out;
        int r = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.empty() ? nullptr : service.c_str(),
                              &hints, &res);
        if (r != 0) return out;  // as Unix.getaddrinfo: no answer is an empty list
        for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6 && ai->ai_family != AF_UNIX) continue;
            addr_info a;
            a.domain = static_cast<socket_domain>(ai->ai_family);
            a.type = static_cast<socket_type>(ai->ai_socktype);
            a.protocol = ai->ai_protocol;
            a.addr = sockaddr::from_raw(ai->ai_addr, ai->ai_addrlen);
            if (ai->ai_canonname != nullptr) a.canonname = ai->ai_canonname;
            out.push_back(std::move(a));
        }
        ::freeaddrinfo(res);
        return out;
    });
}

promise<name_info> getnameinfo(const sockaddr& addr, bool numeric_host, bool numeric_service) {
    return preemptive::detach([addr, numeric_host, numeric_service]() {
        char host[NI_MAXHOST] = {};
        char serv[NI_MAXSERV] = {};
        int flags = (numeric_host ? NI_NUMERICHOST : 0) | (numeric_service ? NI_NUMERICSERV : 0);
        int r = ::getnameinfo(addr.raw(), addr.size(), host, sizeof host, serv, sizeof serv, flags);
        if (r != 0) {
            int err = r == EAI_SYSTEM ? errno : EINVAL;
            throw unix_error(err, "getnameinfo", addr.to_string() + ": " + ::gai_strerror(r));
        }
        return name_info{host, serv};
    });
}

}  // namespace lwt::unix_

// ---------------------------------------------------------------------------------------
// Signals, processes and notifications.
//
// A signal handler writes the signal number to a process-wide pipe (async-signal-safe); a
// dispatcher thread reads it and posts the handlers registered for that signal to their
// loops' inboxes. Notifications are posted the same way by send_notification. Both tables
// are guarded by a mutex and purged of an engine when it is torn down, so nothing is ever
// posted to a dead loop.

namespace lwt::unix_ {

namespace {

using lwt::detail::inbox_item;

struct registry {
    std::mutex m;
    struct signal_entry {
        int signum;
        engine* owner;
        std::shared_ptr<std::function<void(int)>> f;
    };
    std::map<std::uint64_t, signal_entry> signals;
    std::uint64_t next_signal = 1;
    int installed[NSIG] = {};
    struct sigaction saved[NSIG];
    int pipe_r = -1;

    struct notification_entry {
        engine* owner;
        std::shared_ptr<std::function<void()>> f;
        bool once;
    };
    std::map<int, notification_entry> notifications;
    int next_notification = 1;
};

std::atomic<int> signal_pipe_w{-1};

void purge(engine* e);

registry& reg() {
    static registry* r = [] {
        auto* x = new registry();
        lwt::detail::add_engine_teardown_hook(&purge);
        return x;
    }();
    return *r;
}

void purge(engine* e) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    for (auto it = r.signals.begin(); it != r.signals.end();) {
        if (it->second.owner == e) {
            if (--r.installed[it->second.signum] == 0) ::sigaction(it->second.signum, &r.saved[it->second.signum], nullptr);
            it = r.signals.erase(it);
        } else {
            ++it;
        }
    }
    for (auto it = r.notifications.begin(); it != r.notifications.end();)
        it = it->second.owner == e ? r.notifications.erase(it) : std::next(it);
}

extern "C" void lwt_on_os_signal(int signum) {
    int saved = errno;
    auto b = static_cast<unsigned char>(signum);
    [[maybe_unused]] ssize_t n = ::write(signal_pipe_w.load(std::memory_order_relaxed), &b, 1);
    errno = saved;
}

struct signal_item : inbox_item {
    std::uint64_t id;
    int signum;
};

void run_signal(inbox_item* it) noexcept {
    auto* item = static_cast<signal_item*>(it);
    std::shared_ptr<std::function<void(int)>> f;
    {
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        auto h = r.signals.find(item->id);
        if (h != r.signals.end()) f = h->second.f;
    }
    int signum = item->signum;
    delete item;
    if (f) lwt::detail::guarded(*f, signum);
}

void dispatch_signals(int fd) {
    for (;;) {
        unsigned char b;
        ssize_t n = ::read(fd, &b, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        for (auto& [id, h] : r.signals) {
            if (h.signum != b) continue;
            auto* item = new signal_item();
            item->id = id;
            item->signum = b;
            item->run = &run_signal;
            h.owner->post(item);
        }
    }
}

}  // namespace

signal_handler_id on_signal(int signum, std::function<void(int)> f) {
    if (signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP)
        throw std::invalid_argument(fmt::format("lwt::unix_::on_signal: cannot handle signal {}", signum));
    if (!f) throw std::invalid_argument("lwt::unix_::on_signal: empty handler");
    engine& e = engine::current();
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    if (r.pipe_r < 0) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe", "");
        ::fcntl(fds[1], F_SETFL, O_NONBLOCK);  // the handler must never block
        r.pipe_r = fds[0];
        signal_pipe_w.store(fds[1], std::memory_order_relaxed);
        std::thread(dispatch_signals, fds[0]).detach();
    }
    if (r.installed[signum]++ == 0) {
        struct sigaction sa {};
        sa.sa_handler = &lwt_on_os_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (::sigaction(signum, &sa, &r.saved[signum]) != 0) {
            --r.installed[signum];
            throw_errno("sigaction", std::to_string(signum));
        }
    }
    std::uint64_t id = r.next_signal++;
    r.signals.emplace(id, registry::signal_entry{signum, &e, std::make_shared<std::function<void(int)>>(std::move(f))});
    e.external_sources.fetch_add(1, std::memory_order_relaxed);
    return signal_handler_id{id};
}

void disable_signal_handler(signal_handler_id id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto it = r.signals.find(id.id);
    if (it == r.signals.end()) return;
    int signum = it->second.signum;
    it->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
    r.signals.erase(it);
    if (--r.installed[signum] == 0) ::sigaction(signum, &r.saved[signum], nullptr);
}

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
            io_awaiter a;
            a.op.kind = io_kind::poll;
            a.op.fd = pidfd.fd();
            a.op.flags = POLLIN;
            auto done = co_await a;
            if (done.res < 0 || done.canceled) result_slow(done, "waitpid", std::to_string(pid), false);
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

namespace {

struct notification_item : inbox_item {
    int id;
};

void run_notification(inbox_item* it) noexcept {
    auto* item = static_cast<notification_item*>(it);
    int id = item->id;
    delete item;
    std::shared_ptr<std::function<void()>> f;
    {
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        auto n = r.notifications.find(id);
        if (n == r.notifications.end()) return;
        f = n->second.f;
        if (n->second.once) {
            n->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
            r.notifications.erase(n);
        }
    }
    lwt::detail::guarded(*f);
}

}  // namespace

int make_notification(std::function<void()> f, bool once) {
    if (!f) throw std::invalid_argument("lwt::unix_::make_notification: empty function");
    engine& e = engine::current();
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    int id = r.next_notification++;
    r.notifications.emplace(id, registry::notification_entry{&e, std::make_shared<std::function<void()>>(std::move(f)), once});
    e.external_sources.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void send_notification(int id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto n = r.notifications.find(id);
    if (n == r.notifications.end()) return;
    auto* item = new notification_item();
    item->id = id;
    item->run = &run_notification;
    n->second.owner->post(item);
}

void stop_notification(int id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto n = r.notifications.find(id);
    if (n == r.notifications.end()) return;
    n->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
    r.notifications.erase(n);
}

}  // namespace lwt::unix_
