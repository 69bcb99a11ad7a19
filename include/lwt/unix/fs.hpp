// Lwt_unix's file system: opening, stat, the calls on paths, links, directories.
#pragma once

#include <lwt/stream.hpp>
#include <lwt/unix/fd.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lwt::detail {
struct dir_stream;  // a DIR* and the lock its readers take turns on (lib/unix/fs.cpp)
}  // namespace lwt::detail

namespace lwt::unix_ {

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

}  // namespace lwt::unix_

namespace lwt::detail {
LWT_EXPORT unix_::stats of_statx(const struct ::statx& x) noexcept;

// The path (or two) a call names: the kernel copies it when it takes the request.
struct path_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        std::string path;
        std::string path2;  // rename's, link's and symlink's second path
        void point(io_op& op) noexcept {
            op.addr = path.data();
            op.addr2 = path2.data();
        }
    };
    static void value(const io_op&, const extra&) noexcept {}
    static std::string error_arg(const io_op& op, const extra& x);
};
struct open_kind {
    using value_type = unix_::file_descr;
    static constexpr bool owns_result = true;  // the new descriptor
    using extra = path_kind::extra;
    static unix_::file_descr value(const io_op& op, const extra&) noexcept { return unix_::file_descr(op.res); }
    static std::string error_arg(const io_op& op, const extra& x) { return path_kind::error_arg(op, x); }
};
// statx: the kernel fills `buf` when the call completes.
struct stat_kind {
    using value_type = unix_::stats;
    static constexpr bool owns_result = false;
    struct extra {
        std::string path;  // empty for fstat
        struct ::statx buf;
        void point(io_op& op) noexcept {
            op.addr = path.data();
            op.addr2 = &buf;
        }
        void copy_result(const extra& from) noexcept { buf = from.buf; }
    };
    static unix_::stats value(const io_op&, const extra& x) noexcept { return of_statx(x.buf); }
    static std::string error_arg(const io_op& op, const extra& x);
};
// A stat that only asks whether the path leads somewhere.
struct exists_kind {
    using value_type = bool;
    static constexpr bool owns_result = false;
    using extra = stat_kind::extra;
    static bool value(const io_op&, const extra&) noexcept { return true; }
    static std::optional<bool> failure_value(int err) noexcept {
        if (err == ENOENT || err == ENOTDIR) return false;
        return std::nullopt;
    }
    static std::string error_arg(const io_op& op, const extra& x) { return stat_kind::error_arg(op, x); }
};
}  // namespace lwt::detail

namespace lwt::unix_ {

// Calls on paths; each is an operation (see operation.hpp), as are openfile and stat.
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
LWT_EXPORT promise<void> truncate(std::string path, off_t length);

// Permissions, owners, times, access, FIFOs (Lwt_unix's): each on the worker pool, on both
// engines -- a path is looked up on disk, which may be slow (a network file system, a disk
// under load), and io_uring has no operation for these. A failure is unix_error naming the
// call and the path.
LWT_EXPORT promise<void> chmod(std::string path, mode_t perm);
LWT_EXPORT promise<void> chown(std::string path, uid_t owner, gid_t group);  // -1: unchanged
// Lwt_unix.utimes: access and modification times in seconds since the epoch (fractions
// kept); both 0.0: now.
LWT_EXPORT promise<void> utimes(std::string path, double access_time, double modification_time);
// Lwt_unix.access: `mode` is F_OK, or R_OK | W_OK | X_OK; a refusal is unix_error EACCES
// (ENOENT for a missing file).
LWT_EXPORT promise<void> access(std::string path, int mode);
LWT_EXPORT promise<void> mkfifo(std::string path, mode_t perm = 0644);

// The process's working directory (process-wide: every loop sees the change). At once.
LWT_EXPORT promise<std::string> getcwd();
LWT_EXPORT promise<void> chdir(std::string path);

// Directories: opendir/readdir/closedir (each on the worker pool) and the whole listing.
// The directory stream is shared by the handle and the readdirs in flight on it, and closed
// when the last of them lets go: closing the handle (or destroying it) while a readdir that
// was abandoned (with_timeout, pick, cancel) still runs on a worker is safe; readdirs on one
// handle take turns.
class LWT_EXPORT dir_handle {
public:
    dir_handle() noexcept = default;
    explicit dir_handle(std::shared_ptr<detail::dir_stream> d) noexcept : d_(std::move(d)) {}
    bool is_open() const noexcept { return d_ != nullptr; }
    const std::shared_ptr<detail::dir_stream>& impl() const noexcept { return d_; }

private:
    std::shared_ptr<detail::dir_stream> d_;
};
LWT_EXPORT promise<dir_handle> opendir(std::string path);
// The next entry's name (including "." and ".."), or std::nullopt at the end.
LWT_EXPORT promise<std::optional<std::string>> readdir(dir_handle& d);
LWT_EXPORT promise<void> closedir(dir_handle& d);
// Lwt_unix.readdir_n: up to n next entries in one worker job (fewer only at the end: none
// there).
LWT_EXPORT promise<std::vector<std::string>> readdir_n(dir_handle& d, std::size_t n);
// Lwt_unix.files_of_directory: every entry of the directory but "." and "..", in directory
// order, as a stream read in batches (readdir_n of 1024): a directory of a million entries
// never sits in memory whole. A failure (opendir's, readdir's) is the stream's: the read that
// meets it fails with the unix_error. to_list() gives them all at once.
LWT_EXPORT stream<std::string> files_of_directory(std::string path);

}  // namespace lwt::unix_
