// <lwt/detail/io_op.hpp>: what each I/O kind is, described once in the io_kinds table. The
// io_uring engine builds every SQE from the table (prep_sqe); these tests hold it to what
// liburing's own io_uring_prep_* call for the kind writes, field for field, with a request
// filled the way the table's comment says (and the unix_ calls do).
#include <lwt/detail/io_op.hpp>
#include <lwt/detail/uring_engine.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/stat.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cstring>
#include <functional>
#include <string>

using lwt::detail::io_kind;
using lwt::detail::io_op;

namespace {

// Somewhere to point at: the SQEs only carry the addresses.
char buf[64];
char path[] = "/a/path";
char path2[] = "/another/path";
iovec iov[2];
msghdr msg;
sockaddr_storage addr;
socklen_t addr_len = sizeof addr;
struct statx stx;

io_op request(io_kind kind, int fd, void* a, std::uint32_t len, std::uint64_t off, int flags, void* a2 = nullptr) {
    io_op op;
    op.kind = kind;
    op.fd = fd;
    op.addr = a;
    op.len = len;
    op.off = off;
    op.flags = flags;
    op.addr2 = a2;
    return op;
}

// Both SQEs start from the same bytes, so that a field one side leaves alone compares equal
// only if the other side leaves it alone too.
void same_sqe(const io_op& op, const std::function<void(io_uring_sqe*)>& liburing) {
    io_uring_sqe ours, theirs;
    std::memset(&ours, 0xA5, sizeof ours);
    std::memset(&theirs, 0xA5, sizeof theirs);
    lwt::detail::prep_sqe(&ours, op);
    liburing(&theirs);
    INFO("kind " << op.traits().name);
    CHECK(ours.opcode == theirs.opcode);
    CHECK(ours.fd == theirs.fd);
    CHECK(ours.addr == theirs.addr);
    CHECK(ours.len == theirs.len);
    CHECK(ours.off == theirs.off);
    CHECK(ours.rw_flags == theirs.rw_flags);
    CHECK(std::memcmp(&ours, &theirs, sizeof ours) == 0);
}

constexpr std::uint64_t at_position = ~std::uint64_t{0};

}  // namespace

TEST_CASE("the table lists every kind once, in the enum's order, with its system call") {
    for (std::size_t i = 0; i < static_cast<std::size_t>(io_kind::count_); ++i) {
        const auto& k = lwt::detail::io_kinds[i];
        INFO("entry " << i);
        REQUIRE(static_cast<std::size_t>(k.kind) == i);
        REQUIRE(k.perform != nullptr);
        REQUIRE(std::string(k.name).size() > 0);
    }
}

TEST_CASE("reads and writes build the SQE of io_uring_prep_read, _write, _readv and _writev") {
    same_sqe(request(io_kind::read, 3, buf, sizeof buf, at_position, 0),
             [](io_uring_sqe* s) { io_uring_prep_read(s, 3, buf, sizeof buf, at_position); });
    same_sqe(request(io_kind::write, 4, buf, 10, 4096, 0),
             [](io_uring_sqe* s) { io_uring_prep_write(s, 4, buf, 10, 4096); });
    same_sqe(request(io_kind::readv, 5, iov, 2, 7, 0), [](io_uring_sqe* s) { io_uring_prep_readv(s, 5, iov, 2, 7); });
    same_sqe(request(io_kind::writev, 6, iov, 2, at_position, 0),
             [](io_uring_sqe* s) { io_uring_prep_writev(s, 6, iov, 2, at_position); });
}

TEST_CASE("socket transfers build the SQE of io_uring_prep_recv, _send, _recvmsg and _sendmsg, sends with MSG_NOSIGNAL") {
    same_sqe(request(io_kind::recv, 3, buf, sizeof buf, 0, MSG_PEEK),
             [](io_uring_sqe* s) { io_uring_prep_recv(s, 3, buf, sizeof buf, MSG_PEEK); });
    same_sqe(request(io_kind::send, 3, buf, 5, 0, MSG_MORE),
             [](io_uring_sqe* s) { io_uring_prep_send(s, 3, buf, 5, MSG_MORE | MSG_NOSIGNAL); });
    same_sqe(request(io_kind::recvmsg, 3, &msg, 1, 0, MSG_TRUNC),
             [](io_uring_sqe* s) { io_uring_prep_recvmsg(s, 3, &msg, MSG_TRUNC); });
    same_sqe(request(io_kind::sendmsg, 3, &msg, 1, 0, 0),
             [](io_uring_sqe* s) { io_uring_prep_sendmsg(s, 3, &msg, MSG_NOSIGNAL); });
}

TEST_CASE("accept, connect and shutdown build the SQE of liburing's calls, accepts with SOCK_CLOEXEC") {
    same_sqe(request(io_kind::accept, 3, &addr, 0, 0, SOCK_NONBLOCK, &addr_len), [](io_uring_sqe* s) {
        io_uring_prep_accept(s, 3, reinterpret_cast<sockaddr*>(&addr), &addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    });
    same_sqe(request(io_kind::connect, 3, &addr, 0, 16, 0),
             [](io_uring_sqe* s) { io_uring_prep_connect(s, 3, reinterpret_cast<sockaddr*>(&addr), 16); });
    same_sqe(request(io_kind::shutdown, 3, nullptr, SHUT_WR, 0, 0),
             [](io_uring_sqe* s) { io_uring_prep_shutdown(s, 3, SHUT_WR); });
}

TEST_CASE("close, fsync and poll build the SQE of io_uring_prep_close, _fsync and _poll_add") {
    same_sqe(request(io_kind::close, 9, nullptr, 0, 0, 0), [](io_uring_sqe* s) { io_uring_prep_close(s, 9); });
    same_sqe(request(io_kind::fsync, 9, nullptr, 0, 0, 0), [](io_uring_sqe* s) { io_uring_prep_fsync(s, 9, 0); });
    same_sqe(request(io_kind::fsync, 9, nullptr, 0, 0, 1),
             [](io_uring_sqe* s) { io_uring_prep_fsync(s, 9, IORING_FSYNC_DATASYNC); });
    same_sqe(request(io_kind::poll, 9, nullptr, 0, 0, POLLIN | POLLPRI),
             [](io_uring_sqe* s) { io_uring_prep_poll_add(s, 9, POLLIN | POLLPRI); });
}

TEST_CASE("the path calls build the SQE of liburing's calls, opens with O_CLOEXEC") {
    same_sqe(request(io_kind::openat, AT_FDCWD, path, 0640, 0, O_WRONLY | O_CREAT), [](io_uring_sqe* s) {
        io_uring_prep_openat(s, AT_FDCWD, path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    });
    same_sqe(request(io_kind::statx, AT_FDCWD, path, STATX_BASIC_STATS, 0, AT_SYMLINK_NOFOLLOW, &stx),
             [](io_uring_sqe* s) {
                 io_uring_prep_statx(s, AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx);
             });
    same_sqe(request(io_kind::unlinkat, AT_FDCWD, path, 0, 0, AT_REMOVEDIR),
             [](io_uring_sqe* s) { io_uring_prep_unlinkat(s, AT_FDCWD, path, AT_REMOVEDIR); });
    same_sqe(request(io_kind::renameat, AT_FDCWD, path, static_cast<std::uint32_t>(AT_FDCWD), 0, 0, path2),
             [](io_uring_sqe* s) { io_uring_prep_renameat(s, AT_FDCWD, path, AT_FDCWD, path2, 0); });
    same_sqe(request(io_kind::mkdirat, AT_FDCWD, path, 0755, 0, 0),
             [](io_uring_sqe* s) { io_uring_prep_mkdirat(s, AT_FDCWD, path, 0755); });
    same_sqe(request(io_kind::symlinkat, AT_FDCWD, path, 0, 0, 0, path2),
             [](io_uring_sqe* s) { io_uring_prep_symlinkat(s, path, AT_FDCWD, path2); });
    same_sqe(request(io_kind::linkat, AT_FDCWD, path, static_cast<std::uint32_t>(AT_FDCWD), 0, AT_SYMLINK_FOLLOW,
                     path2),
             [](io_uring_sqe* s) { io_uring_prep_linkat(s, AT_FDCWD, path, AT_FDCWD, path2, AT_SYMLINK_FOLLOW); });
}

TEST_CASE("a poll waits for input when its mask asks for POLLIN or POLLPRI, else for output") {
    using lwt::detail::io_readiness;
    REQUIRE(request(io_kind::poll, 3, nullptr, 0, 0, POLLIN).readiness() == io_readiness::input);
    REQUIRE(request(io_kind::poll, 3, nullptr, 0, 0, POLLPRI).readiness() == io_readiness::input);
    REQUIRE(request(io_kind::poll, 3, nullptr, 0, 0, POLLOUT).readiness() == io_readiness::output);
    REQUIRE(request(io_kind::recv, 3, buf, 1, 0, 0).readiness() == io_readiness::input);
    REQUIRE(request(io_kind::connect, 3, &addr, 0, 16, 0).readiness() == io_readiness::output);
    REQUIRE(request(io_kind::openat, AT_FDCWD, path, 0, 0, 0).readiness() == io_readiness::none);
}
