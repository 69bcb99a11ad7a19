// Lwt_unix's calls on files and descriptors beyond reading and writing (<lwt/unix/fs.hpp>,
// <lwt/unix/fd.hpp>): permissions, owners, times, access, FIFOs, the working directory,
// locks, isatty, dup, dup2, close-on-exec, pipe_in / pipe_out; path calls that block wait off
// the loop. On both engines
// (tests/meson.build).
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/io.hpp>
#include <lwt/process.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <cstring>
#include <string>

using namespace lwt;
using unix_::file_descr;

namespace {

// A file of a few bytes at `path`.
void make_file(const std::string& path, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, "abc", 3) == 3);
    ::close(fd);
    REQUIRE(::chmod(path.c_str(), mode) == 0);  // (whatever the umask took)
}


mode_t perm_of(const std::string& path) {
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("chmod and fchmod set a file's permissions") {
    test::temp_dir dir;
    const auto f = dir / "f";
    make_file(f);
    main::run(unix_::chmod(f, 0600));
    REQUIRE(perm_of(f) == 0600);
    auto fd = main::run(unix_::openfile(f, O_RDONLY));
    main::run(unix_::fchmod(fd, 0640));
    REQUIRE(perm_of(f) == 0640);
}

TEST_CASE("chmod of a missing path is unix_error ENOENT naming the call and the path") {
    test::temp_dir dir;
    auto e = test::unix_failure(unix_::chmod(dir / "missing", 0600));
    REQUIRE(e.error() == ENOENT);
    REQUIRE(e.call() == "chmod");
    REQUIRE(e.argument() == "\"" + dir / "missing" + "\"");
}

TEST_CASE("chown and fchown to the owner it has succeed; -1 leaves a part unchanged") {
    test::temp_dir dir;
    const auto f = dir / "f";
    make_file(f);
    main::run(unix_::chown(f, ::getuid(), static_cast<gid_t>(-1)));
    auto fd = main::run(unix_::openfile(f, O_RDONLY));
    main::run(unix_::fchown(fd, static_cast<uid_t>(-1), ::getgid()));
    struct stat st;
    REQUIRE(::stat(f.c_str(), &st) == 0);
    REQUIRE(st.st_uid == ::getuid());
    REQUIRE(st.st_gid == ::getgid());
    REQUIRE(test::unix_failure(unix_::chown(dir / "missing", ::getuid(), ::getgid())).error() == ENOENT);
}

TEST_CASE("utimes sets the access and modification times, fractions kept; 0.0 and 0.0 is now") {
    test::temp_dir dir;
    const auto f = dir / "f";
    make_file(f);
    main::run(unix_::utimes(f, 1000000000.25, 1200000000.5));
    auto s = main::run(unix_::stat(f));
    REQUIRE(s.atime == Approx(1000000000.25).margin(1e-6));
    REQUIRE(s.mtime == Approx(1200000000.5).margin(1e-6));
    const double before = static_cast<double>(::time(nullptr)) - 1;
    main::run(unix_::utimes(f, 0.0, 0.0));
    REQUIRE(main::run(unix_::stat(f)).mtime >= before);
}

TEST_CASE("access says whether a file exists and may be used so") {
    test::temp_dir dir;
    const auto f = dir / "f";
    make_file(f, 0644);
    main::run(unix_::access(f, F_OK));
    main::run(unix_::access(f, R_OK | W_OK));
    // No execute bit at all: refused even to root.
    REQUIRE(test::unix_failure(unix_::access(f, X_OK)).error() == EACCES);
    REQUIRE(test::unix_failure(unix_::access(dir / "missing", F_OK)).error() == ENOENT);
    REQUIRE_THROWS_AS(unix_::access(f, 0100), std::invalid_argument);
}

TEST_CASE("mkfifo makes a FIFO, and not twice") {
    test::temp_dir dir;
    const auto p = dir / "fifo";
    main::run(unix_::mkfifo(p, 0600));
    REQUIRE(main::run(unix_::stat(p)).kind == unix_::file_kind::fifo);
    REQUIRE(test::unix_failure(unix_::mkfifo(p)).error() == EEXIST);
}

TEST_CASE("chdir changes the working directory that getcwd gives") {
    test::temp_dir dir;
    const std::string before = main::run(unix_::getcwd());
    char real[PATH_MAX];
    REQUIRE(::realpath(dir.path.c_str(), real) != nullptr);
    main::run(unix_::chdir(dir.path));
    const std::string now = main::run(unix_::getcwd());
    main::run(unix_::chdir(before));
    REQUIRE(now == real);
    REQUIRE(main::run(unix_::getcwd()) == before);
    REQUIRE(test::unix_failure(unix_::chdir(dir / "missing")).error() == ENOENT);
}

TEST_CASE("isatty is true for a terminal and false for a pipe") {
    auto ends = unix_::pipe();
    REQUIRE_FALSE(main::run(unix_::isatty(ends.first)));
    file_descr pty(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!pty) return test::skip("no pseudo-terminal can be opened here");
    REQUIRE(::grantpt(pty.fd()) == 0);
    REQUIRE(::unlockpt(pty.fd()) == 0);
    file_descr tty(::open(::ptsname(pty.fd()), O_RDWR | O_NOCTTY | O_CLOEXEC));
    REQUIRE(tty);
    REQUIRE(main::run(unix_::isatty(tty)));
}

TEST_CASE("dup gives another descriptor of the same file, close-on-exec unless asked") {
    auto ends = unix_::pipe();
    file_descr w2 = unix_::dup(ends.second);
    REQUIRE(w2.fd() != ends.second.fd());
    REQUIRE((::fcntl(w2.fd(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::fcntl(unix_::dup(ends.second, false).fd(), F_GETFD) == 0);
    main::run(unix_::write(w2, std::string_view("via the copy")));
    char buf[32];
    REQUIRE(main::run(unix_::read(ends.first, buf, sizeof buf)) == 12);
    REQUIRE(std::string(buf, 12) == "via the copy");
}

TEST_CASE("dup2 makes a descriptor name another file; what waited on its old file ends with EBADF") {
    auto a = unix_::pipe();
    auto b = unix_::pipe();
    char buf[16];
    promise<std::size_t> waiting = unix_::read(a.first, buf, sizeof buf);  // (nothing will come)
    main::run(unix_::sleep(0.01));
    REQUIRE(waiting.is_pending());
    unix_::dup2(b.first, a.first);
    REQUIRE(test::unix_failure(waiting).error() == EBADF);
    main::run(unix_::write(b.second, std::string_view("to b")));
    REQUIRE(main::run(unix_::read(a.first, buf, sizeof buf)) == 4);  // a.first reads b now
    REQUIRE(std::string(buf, 4) == "to b");
}

TEST_CASE("set_close_on_exec and clear_close_on_exec set and clear FD_CLOEXEC") {
    auto ends = unix_::pipe();
    unix_::clear_close_on_exec(ends.first);
    REQUIRE((::fcntl(ends.first.fd(), F_GETFD) & FD_CLOEXEC) == 0);
    unix_::set_close_on_exec(ends.first);
    REQUIRE((::fcntl(ends.first.fd(), F_GETFD) & FD_CLOEXEC) != 0);
}

TEST_CASE("lockf: try_lock and test fail while another process holds the lock; lock waits for it") {
    test::temp_dir dir;
    const auto f = dir / "locked";
    make_file(f);
    // Another process takes the lock (lockf and Python's fcntl.lockf are the same fcntl
    // record locks), says so, and keeps it for half a second.
    process::options o;
    o.timeout = std::chrono::seconds(30);
    auto holder = process::open_process_in(
        {"python3", "-c",
         "import fcntl, sys, time\n"
         "f = open(sys.argv[1], 'r+')\n"
         "fcntl.lockf(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(0.5)\n",
         f},
        o);
    REQUIRE(main::run(io::read_line(holder.stdout_())) == "locked");
    auto fd = main::run(unix_::openfile(f, O_RDWR));
    const int busy = test::unix_failure(unix_::lockf(fd, unix_::lock_command::try_lock, 0)).error();
    REQUIRE((busy == EAGAIN || busy == EACCES));
    const int tested = test::unix_failure(unix_::lockf(fd, unix_::lock_command::test, 0)).error();
    REQUIRE((tested == EAGAIN || tested == EACCES));  // (Linux: EACCES here, EAGAIN above)
    const auto t0 = std::chrono::steady_clock::now();
    main::run(unix_::lockf(fd, unix_::lock_command::lock, 0));  // (once the holder has gone)
    REQUIRE(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(100));
    main::run(unix_::lockf(fd, unix_::lock_command::test, 0));  // (ours: no other holds it)
    main::run(unix_::lockf(fd, unix_::lock_command::unlock, 0));
    main::run(holder.status());
}

TEST_CASE("pipe_in and pipe_out give the other side a plain blocking descriptor") {
    auto [ours, theirs] = unix_::pipe_in();
    REQUIRE((::fcntl(theirs, F_GETFL) & O_NONBLOCK) == 0);
    REQUIRE((::fcntl(theirs, F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write(theirs, "in", 2) == 2);
    ::close(theirs);
    char buf[8];
    REQUIRE(main::run(unix_::read(ours, buf, sizeof buf)) == 2);
    auto [their_read, our_write] = unix_::pipe_out(false);
    REQUIRE((::fcntl(their_read, F_GETFD) & FD_CLOEXEC) == 0);  // (for a child to inherit)
    main::run(unix_::write(our_write, std::string_view("out")));
    REQUIRE(::read(their_read, buf, sizeof buf) == 3);
    ::close(their_read);
}

namespace {

// Opens a reader of the FIFO at `path` after `after`, unless told to stop first: the test's
// way out if an open that should wait off the loop blocks the loop instead.
struct fifo_rescue {
    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    int fd = -1;
    std::thread t;
    fifo_rescue(std::string path, std::chrono::milliseconds after)
        : t([this, path, after] {
              std::unique_lock<std::mutex> lk(m);
              if (!cv.wait_for(lk, after, [this] { return stop; })) fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
          }) {}
    ~fifo_rescue() {
        {
            std::lock_guard<std::mutex> lk(m);
            stop = true;
        }
        cv.notify_all();
        t.join();
        if (fd >= 0) ::close(fd);
    }
};

// io_uring makes an open without blocking first (O_NONBLOCK): a FIFO with no reader then
// fails with ENXIO at once instead of waiting (a kernel behaviour, see docs/reliability.md):
// such a case has nothing that blocks, and skips.
bool fails_with_enxio(const promise<file_descr>& p) {
    if (p.state() != lwt::state::rejected) return false;
    try {
        std::rethrow_exception(p.exception());
    } catch (const unix_::unix_error& e) {
        if (e.code().value() != ENXIO) throw;
    }
    test::skip("the " + std::string(engine::id()) + " engine fails an open of a FIFO without a reader with ENXIO at once");
    return true;
}

int open_descriptors() {
    int n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd"); it != std::filesystem::directory_iterator(); ++it) ++n;
    return n;
}

}  // namespace

TEST_CASE("a path call that blocks (opening a FIFO with no reader) waits off the loop") {
    test::temp_dir dir;
    const std::string fifo = dir / "f";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fifo_rescue rescue(fifo, std::chrono::seconds(3));
    main::run([&]() -> promise<void> {
        promise<file_descr> writer = unix_::openfile(fifo, O_WRONLY);
        int ticks = 0;
        for (; ticks < 5; ++ticks) co_await unix_::sleep(0.01);  // the loop goes on meanwhile
        if (fails_with_enxio(writer)) co_return;
        REQUIRE(writer.is_pending());
        auto reader = co_await unix_::openfile(fifo, O_RDONLY | O_NONBLOCK);
        auto w = co_await std::move(writer);
        co_await unix_::write(w, "x", 1);
        char c = 0;
        std::size_t n = co_await unix_::read(reader, &c, 1);  // (named: g++ 12 would await twice in REQUIRE)
        REQUIRE(n == 1);
        REQUIRE(c == 'x');
    });
}

TEST_CASE("cancelling a path call that blocks ends it at once; a descriptor it opens late is closed") {
    test::temp_dir dir;
    const std::string fifo = dir / "f";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    fifo_rescue rescue(fifo, std::chrono::seconds(3));
    const int before = open_descriptors();
    main::run([&]() -> promise<void> {
        promise<file_descr> writer = unix_::openfile(fifo, O_WRONLY);
        co_await unix_::sleep(0.02);
        if (fails_with_enxio(writer)) co_return;
        cancel(writer);
        REQUIRE(writer.state() == lwt::state::rejected);
        // The open may still be waiting somewhere: a reader lets it finish.
        auto reader = co_await unix_::openfile(fifo, O_RDONLY | O_NONBLOCK);
        co_await unix_::sleep(0.1);
        REQUIRE(open_descriptors() == before + 1);  // the reader, and no writer left open
    });
}
