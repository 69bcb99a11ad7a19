// Lwt_unix's file system: the path calls are operations (io_uring runs them in the kernel;
// epoll performs them at the call); directories are read on the worker pool, since readdir
// has no asynchronous form.
#include "operation_impl.hpp"
#include "support.hpp"

#include <lwt/bind.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/unix/fs.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>

namespace lwt::detail {

namespace {

unix_::file_kind kind_of(mode_t m) {
    if (S_ISREG(m)) return unix_::file_kind::regular;
    if (S_ISDIR(m)) return unix_::file_kind::directory;
    if (S_ISCHR(m)) return unix_::file_kind::character;
    if (S_ISBLK(m)) return unix_::file_kind::block;
    if (S_ISLNK(m)) return unix_::file_kind::link;
    if (S_ISFIFO(m)) return unix_::file_kind::fifo;
    if (S_ISSOCK(m)) return unix_::file_kind::socket;
    return unix_::file_kind::unknown;
}

double seconds(const struct statx_timestamp& t) { return static_cast<double>(t.tv_sec) + t.tv_nsec * 1e-9; }

}  // namespace

unix_::stats of_statx(const struct ::statx& x) noexcept {
    unix_::stats s;
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

std::string path_kind::error_arg(const io_op&, const extra& x) {
    return x.path2.empty() ? quoted(x.path) : quoted(x.path) + ", " + quoted(x.path2);
}

std::string stat_kind::error_arg(const io_op& op, const extra& x) {
    return op.fd == AT_FDCWD ? quoted(x.path) : fd_str(op.fd);
}

}  // namespace lwt::detail

namespace lwt::unix_ {

using detail::check_path;
using detail::fd_str;
using detail::io_kind;
using detail::quoted;

namespace {

// A call on one or two paths (checked here: a NUL byte would cut them short), relative to
// the working directory. `len`: a mode, or the second path's directory (AT_FDCWD).
path_op on_paths(io_kind kind, int flags, std::uint32_t len, std::string path, std::string path2,
                 const char* call) {
    check_path(path, call);
    check_path(path2, call);
    return path_op({.kind = kind, .fd = AT_FDCWD, .len = len, .flags = flags, .call = call},
                   {std::move(path), std::move(path2)});
}

// The second path's directory, for renameat and linkat.
constexpr auto at_cwd = static_cast<std::uint32_t>(AT_FDCWD);

// A statx of a path (fstat is performed at the call instead).
template <class Op>
Op statx_op(std::string path, int flags, const char* call) {
    check_path(path, call);
    typename Op::extra_type x;
    x.path = std::move(path);
    return Op({.kind = io_kind::statx, .fd = AT_FDCWD, .len = STATX_BASIC_STATS, .flags = flags, .call = call},
              std::move(x));
}

}  // namespace

template class operation<detail::path_kind>;
template class operation<detail::open_kind>;
template class operation<detail::stat_kind>;
template class operation<detail::exists_kind>;


open_op openfile(std::string path, int flags, mode_t perm) {
    check_path(path, "openfile");
    return open_op({.kind = io_kind::openat, .fd = AT_FDCWD, .len = perm, .flags = flags, .call = "open"},
                   {std::move(path), {}});
}

stat_op stat(std::string path) { return statx_op<stat_op>(std::move(path), 0, "stat"); }
stat_op lstat(std::string path) { return statx_op<stat_op>(std::move(path), AT_SYMLINK_NOFOLLOW, "lstat"); }
// At the call, on both engines: a descriptor's attributes need no path lookup (a system
// call of about a microsecond), where io_uring would hand the statx to a worker thread that
// finds the descriptor by its number only -- possibly after it was closed and reused.
stat_op fstat(const file_descr& fd) {
    return stat_op(
        {.kind = io_kind::statx, .fd = fd.fd(), .len = STATX_BASIC_STATS, .flags = AT_EMPTY_PATH, .call = "fstat"}, {},
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
    return on_paths(io_kind::renameat, 0, at_cwd, std::move(from), std::move(to), "rename");
}
path_op link(std::string target, std::string path) {
    if (path.empty()) throw std::invalid_argument("lwt::unix_::link: empty path");
    return on_paths(io_kind::linkat, 0, at_cwd, std::move(target), std::move(path), "link");
}
path_op symlink(std::string target, std::string path) {
    if (path.empty()) throw std::invalid_argument("lwt::unix_::symlink: empty path");
    return on_paths(io_kind::symlinkat, 0, 0, std::move(target), std::move(path), "symlink");
}

promise<std::string> readlink(std::string path) {
    check_path(path, "readlink");
    // (On the worker pool: a path lookup, as the other path calls.)
    return preemptive::detach([path = std::move(path)] {
        std::string buf(256, '\0');
        for (;;) {
            ssize_t n = ::readlink(path.c_str(), buf.data(), buf.size());
            if (n < 0) {
                if (errno == EINTR) continue;
                throw unix_error(errno, "readlink", quoted(path));
            }
            if (static_cast<std::size_t>(n) < buf.size()) {
                buf.resize(static_cast<std::size_t>(n));
                return buf;
            }
            buf.resize(buf.size() * 2);
        }
    });
}

promise<void> truncate(std::string path, off_t length) {
    check_path(path, "truncate");
    if (length < 0) throw std::invalid_argument("lwt::unix_::truncate: negative length");
    // (On the worker pool: cutting a large file frees its blocks, which may take long.)
    return detail::on_worker("truncate", quoted(path), [path, length] { return ::truncate(path.c_str(), length); });
}

promise<void> chmod(std::string path, mode_t perm) {
    check_path(path, "chmod");
    return detail::on_worker("chmod", quoted(path), [path, perm] { return ::chmod(path.c_str(), perm); });
}

promise<void> chown(std::string path, uid_t owner, gid_t group) {
    check_path(path, "chown");
    return detail::on_worker("chown", quoted(path), [path, owner, group] { return ::chown(path.c_str(), owner, group); });
}

namespace {
timespec to_timespec(double t) {
    double whole = 0;
    double frac = std::modf(t, &whole);
    if (frac < 0) {
        frac += 1;
        whole -= 1;
    }
    return {static_cast<time_t>(whole), static_cast<long>(frac * 1e9)};
}
}  // namespace

promise<void> utimes(std::string path, double access_time, double modification_time) {
    check_path(path, "utimes");
    if (!std::isfinite(access_time) || !std::isfinite(modification_time))
        throw std::invalid_argument("lwt::unix_::utimes: times must be finite");
    const bool now = access_time == 0.0 && modification_time == 0.0;
    return detail::on_worker("utimes", quoted(path), [path, now, access_time, modification_time] {
        const timespec times[2] = {to_timespec(access_time), to_timespec(modification_time)};
        return ::utimensat(AT_FDCWD, path.c_str(), now ? nullptr : times, 0);
    });
}

promise<void> access(std::string path, int mode) {
    check_path(path, "access");
    if ((mode & ~(R_OK | W_OK | X_OK)) != 0)
        throw std::invalid_argument(fmt::format("lwt::unix_::access: mode {} is not F_OK or R_OK | W_OK | X_OK", mode));
    return detail::on_worker("access", quoted(path), [path, mode] { return ::access(path.c_str(), mode); });
}

promise<void> mkfifo(std::string path, mode_t perm) {
    check_path(path, "mkfifo");
    return detail::on_worker("mkfifo", quoted(path), [path, perm] { return ::mkfifo(path.c_str(), perm); });
}

promise<std::string> getcwd() {
    std::string buf(256, '\0');
    while (::getcwd(buf.data(), buf.size()) == nullptr) {
        if (errno != ERANGE) return lwt::fail<std::string>(unix_error(errno, "getcwd", ""));
        buf.resize(buf.size() * 2);
    }
    buf.resize(std::strlen(buf.c_str()));
    return lwt::return_(std::move(buf));
}

promise<void> chdir(std::string path) {
    check_path(path, "chdir");
    if (::chdir(path.c_str()) != 0) return lwt::fail(unix_error(errno, "chdir", quoted(path)));
    return lwt::return_();
}

// ---------------------------------------------------------------------------------------
// Directories (the worker pool: readdir has no asynchronous form).

}  // namespace lwt::unix_

namespace lwt::detail {

struct dir_stream {
    DIR* dir;
    std::mutex turn;  // readdir on one DIR* is not safe from two threads at once
    explicit dir_stream(DIR* d) noexcept : dir(d) {}
    dir_stream(const dir_stream&) = delete;
    dir_stream& operator=(const dir_stream&) = delete;
    ~dir_stream() { ::closedir(dir); }  // by the last holder: the handle or a worker's job
};

}  // namespace lwt::detail

namespace lwt::unix_ {

promise<dir_handle> opendir(std::string path) {
    check_path(path, "opendir");
    return preemptive::detach([path]() {
        DIR* d = ::opendir(path.c_str());
        if (d == nullptr) throw unix_error(errno, "opendir", quoted(path));
        return dir_handle(std::make_shared<detail::dir_stream>(d));
    });
}

namespace {
// The stream's next entry, or std::nullopt at its end (on a worker, holding s.turn).
std::optional<std::string> next_name(detail::dir_stream& s) {
    errno = 0;
    dirent* e = ::readdir(s.dir);
    if (e == nullptr) {
        if (errno != 0) throw unix_error(errno, "readdir", "");
        return std::nullopt;
    }
    return std::string(e->d_name);
}
}  // namespace

promise<std::optional<std::string>> readdir(dir_handle& d) {
    if (!d.is_open()) throw std::invalid_argument("lwt::unix_::readdir: closed directory handle");
    // The job holds the stream: a closedir meanwhile only lets go of the handle's share.
    return preemptive::detach([s = d.impl()]() {
        std::lock_guard<std::mutex> lock(s->turn);
        return next_name(*s);
    });
}

promise<void> closedir(dir_handle& d) {
    dir_handle taken(std::move(d));
    return lwt::return_();  // the stream closes when `taken` and any readdir in flight let go
}

promise<std::vector<std::string>> readdir_n(dir_handle& d, std::size_t n) {
    if (!d.is_open()) throw std::invalid_argument("lwt::unix_::readdir_n: closed directory handle");
    return preemptive::detach([s = d.impl(), n]() {
        std::lock_guard<std::mutex> lock(s->turn);
        std::vector<std::string> out;
        while (out.size() < n) {
            std::optional<std::string> name = next_name(*s);
            if (!name) break;
            out.push_back(std::move(*name));
        }
        return out;
    });
}

namespace {

// files_of_directory's reader: opened at the first pull, read a batch at a time, let go at
// the end (or with the stream).
struct directory_reader {
    std::string path;
    dir_handle d;
    std::deque<std::string> pending;
    bool ended = false;
};

promise<std::optional<std::string>> next_entry(std::shared_ptr<directory_reader> r) {
    for (;;) {
        if (!r->pending.empty()) {
            std::optional<std::string> name(std::move(r->pending.front()));
            r->pending.pop_front();
            co_return name;
        }
        if (r->ended) co_return std::nullopt;
        if (!r->d.is_open()) r->d = co_await opendir(r->path);
        std::vector<std::string> batch = co_await readdir_n(r->d, 1024);
        if (batch.empty()) {
            r->ended = true;
            r->d = dir_handle();  // (closes the directory)
        }
        for (auto& name : batch)
            if (name != "." && name != "..") r->pending.push_back(std::move(name));
    }
}

}  // namespace

stream<std::string> files_of_directory(std::string path) {
    check_path(path, "files_of_directory");
    auto r = std::make_shared<directory_reader>();
    r->path = std::move(path);
    return stream<std::string>::from([r] { return next_entry(r); });
}

}  // namespace lwt::unix_
