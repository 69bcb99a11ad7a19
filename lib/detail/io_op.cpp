// What each I/O kind is: the one place that knows it (see io_op.hpp), and how lwt::cancel
// reaches an operation. The engines read
// this table: io_uring builds the SQE from it, epoll parks by its readiness, both perform
// the plain system call through it when a kernel lacks the opcode or a call cannot block.
#include <lwt/detail/buffer_pool.hpp>
#include <lwt/detail/engine.hpp>
#include <lwt/detail/io_op.hpp>

#if LWT_HAVE_URING
#include <liburing.h>
#define LWT_URING_OP(name) static_cast<std::uint8_t>(IORING_OP_##name)
#else
#define LWT_URING_OP(name) std::uint8_t{0}
#endif

#include <fcntl.h>
#include <linux/stat.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace lwt::detail {

namespace {

std::int32_t result(long r) noexcept { return r < 0 ? -errno : static_cast<std::int32_t>(r); }

bool at_position(const io_op& op) noexcept { return op.off == ~std::uint64_t{0}; }
const char* path(const void* p) noexcept { return static_cast<const char*>(p); }
const iovec* iov(const io_op& op) noexcept { return static_cast<const iovec*>(op.addr); }
int iov_count(const io_op& op) noexcept { return static_cast<int>(op.len); }
int flags(const io_op& op) noexcept { return op.flags | op.traits().forced_flags; }

// The hot calls go through syscall(): glibc's wrappers are thread-cancellation points,
// which costs two extra calls per message for no use here.
std::int32_t do_read(io_op& op) noexcept {
    return result(at_position(op) ? ::syscall(SYS_read, op.fd, op.addr, op.len)
                                  : ::pread(op.fd, op.addr, op.len, static_cast<off_t>(op.off)));
}
std::int32_t do_write(io_op& op) noexcept {
    return result(at_position(op) ? ::syscall(SYS_write, op.fd, op.addr, op.len)
                                  : ::pwrite(op.fd, op.addr, op.len, static_cast<off_t>(op.off)));
}
std::int32_t do_readv(io_op& op) noexcept {
    return result(at_position(op) ? ::readv(op.fd, iov(op), iov_count(op))
                                  : ::preadv(op.fd, iov(op), iov_count(op), static_cast<off_t>(op.off)));
}
std::int32_t do_writev(io_op& op) noexcept {
    return result(at_position(op) ? ::writev(op.fd, iov(op), iov_count(op))
                                  : ::pwritev(op.fd, iov(op), iov_count(op), static_cast<off_t>(op.off)));
}
std::int32_t do_recv(io_op& op) noexcept {
    return result(::syscall(SYS_recvfrom, op.fd, op.addr, op.len, op.flags, nullptr, nullptr));
}
std::int32_t do_send(io_op& op) noexcept {
    return result(::syscall(SYS_sendto, op.fd, op.addr, op.len, flags(op), nullptr, 0));
}
std::int32_t do_recvmsg(io_op& op) noexcept {
    return result(::recvmsg(op.fd, static_cast<msghdr*>(op.addr), op.flags));
}
std::int32_t do_sendmsg(io_op& op) noexcept {
    return result(::sendmsg(op.fd, static_cast<const msghdr*>(op.addr), flags(op)));
}
std::int32_t do_accept(io_op& op) noexcept {
    return result(::accept4(op.fd, static_cast<sockaddr*>(op.addr), static_cast<socklen_t*>(op.addr2),
                            flags(op)));
}
std::int32_t do_connect(io_op& op) noexcept {
    return result(::connect(op.fd, static_cast<const sockaddr*>(op.addr), static_cast<socklen_t>(op.off)));
}
std::int32_t do_shutdown(io_op& op) noexcept { return result(::shutdown(op.fd, static_cast<int>(op.len))); }
std::int32_t do_close(io_op& op) noexcept { return result(::close(op.fd)); }
std::int32_t do_fsync(io_op& op) noexcept {
    return result((op.flags & 1) ? ::fdatasync(op.fd) : ::fsync(op.fd));  // (1: IORING_FSYNC_DATASYNC)
}
std::int32_t do_poll(io_op& op) noexcept {
    pollfd p{op.fd, static_cast<short>(op.flags), 0};
    int r = ::poll(&p, 1, 0);
    if (r == 0) return -EAGAIN;
    if (r > 0 && (p.revents & POLLNVAL)) return -EBADF;  // (as io_uring's poll says it)
    return r > 0 ? p.revents : -errno;
}
std::int32_t do_openat(io_op& op) noexcept {
    return result(::openat(op.fd, path(op.addr), flags(op), static_cast<mode_t>(op.len)));
}
std::int32_t do_statx(io_op& op) noexcept {
    return result(::statx(op.fd, path(op.addr), op.flags, op.len, static_cast<struct statx*>(op.addr2)));
}
std::int32_t do_unlinkat(io_op& op) noexcept { return result(::unlinkat(op.fd, path(op.addr), op.flags)); }
std::int32_t do_renameat(io_op& op) noexcept {
    return result(::renameat(op.fd, path(op.addr), static_cast<int>(op.len), path(op.addr2)));
}
std::int32_t do_mkdirat(io_op& op) noexcept {
    return result(::mkdirat(op.fd, path(op.addr), static_cast<mode_t>(op.len)));
}
std::int32_t do_symlinkat(io_op& op) noexcept {
    return result(::symlinkat(path(op.addr), op.fd, path(op.addr2)));
}
std::int32_t do_linkat(io_op& op) noexcept {
    return result(::linkat(op.fd, path(op.addr), static_cast<int>(op.len), path(op.addr2), op.flags));
}
// A buffer of this loop's pool is taken only now that the call is made, and given back at
// once if it received nothing (at most op.len bytes: the `short` faults clamp it).
std::int32_t do_recv_chunk(io_op& op) noexcept {
    buffer_pool& pool = io_engine::current().buffers();
    const int id = pool.take();
    if (id < 0) return -ENOBUFS;
    const auto bid = static_cast<std::uint16_t>(id);
    const std::uint32_t len = std::min(op.len, pool.buffer_size());
    std::int32_t r = result(::syscall(SYS_recvfrom, op.fd, pool.data(bid), len, op.flags | MSG_DONTWAIT, nullptr, nullptr));
    if (r > 0) {
        op.cqe_flags = buffer_flags(bid);
    } else {
        pool.give_back(bid);
        if (r == -EWOULDBLOCK) r = -EAGAIN;
    }
    return r;
}

using R = io_readiness;

}  // namespace

// Each kind's request, field by field. Unnamed fields are unused and stay 0: io_uring copies
// every field into the SQE, where a stray value means something to the kernel (an off of ~0
// on a send is a destination address).
//   read, write      fd, addr = buffer, len, off (~0: the current position)
//   readv, writev    fd, addr = iovec array, len = its count, off
//   recv, send       fd, addr = buffer, len, flags
//   recvmsg, sendmsg fd, addr = msghdr, len = 1 (one header), flags
//   accept           fd, addr = sockaddr (peer), addr2 = socklen_t (its size), flags
//   connect          fd, addr = sockaddr, off = its size
//   shutdown         fd, len = how
//   close            fd
//   fsync            fd, flags (1: data only)
//   poll             fd, flags = poll mask; the result is the ready mask
//   openat           fd = dirfd, addr = path, len = mode, flags
//   statx            fd = dirfd, addr = path, len = mask, addr2 = struct statx, flags
//   unlinkat         fd = dirfd, addr = path, flags
//   renameat         fd = old dirfd, addr = old path, len = new dirfd, addr2 = new path, flags
//   mkdirat          fd = dirfd, addr = path, len = mode
//   symlinkat        fd = new dirfd, addr = target, addr2 = link path
//   linkat           fd = old dirfd, addr = old path, len = new dirfd, addr2 = new path, flags
//   recv_chunk       fd, len = at most this many bytes, flags; the buffer is the pool's: the
//                    result names it in cqe_flags (buffer_flags(id))
// (io_uring copies connect's and sendmsg's addresses and every path when it takes the SQE.)
constexpr io_kind_traits io_kinds[static_cast<std::size_t>(io_kind::count_)] = {
    {.kind = io_kind::read, .name = "read", .uring_opcode = LWT_URING_OP(READ), .readiness = R::input,
     .retry_when_ready = true, .counts_len_bytes = true, .perform = &do_read},
    {.kind = io_kind::write, .name = "write", .uring_opcode = LWT_URING_OP(WRITE), .readiness = R::output,
     .retry_when_ready = true, .counts_len_bytes = true, .perform = &do_write},
    {.kind = io_kind::readv, .name = "readv", .uring_opcode = LWT_URING_OP(READV), .readiness = R::input,
     .retry_when_ready = true, .perform = &do_readv},
    {.kind = io_kind::writev, .name = "writev", .uring_opcode = LWT_URING_OP(WRITEV), .readiness = R::output,
     .retry_when_ready = true, .perform = &do_writev},
    {.kind = io_kind::recv, .name = "recv", .uring_opcode = LWT_URING_OP(RECV), .readiness = R::input,
     .retry_when_ready = true, .counts_len_bytes = true, .perform = &do_recv},
    {.kind = io_kind::send, .name = "send", .uring_opcode = LWT_URING_OP(SEND), .forced_flags = MSG_NOSIGNAL,
     .readiness = R::output, .retry_when_ready = true, .counts_len_bytes = true, .perform = &do_send},
    {.kind = io_kind::recvmsg, .name = "recvmsg", .uring_opcode = LWT_URING_OP(RECVMSG), .readiness = R::input,
     .retry_when_ready = true, .points_into_owner = true, .writes_owner_after_submit = true,
     .perform = &do_recvmsg},
    {.kind = io_kind::sendmsg, .name = "sendmsg", .uring_opcode = LWT_URING_OP(SENDMSG),
     .forced_flags = MSG_NOSIGNAL, .readiness = R::output, .retry_when_ready = true, .points_into_owner = true,
     .perform = &do_sendmsg},
    {.kind = io_kind::accept, .name = "accept", .uring_opcode = LWT_URING_OP(ACCEPT), .addr2_in_off = true,
     .forced_flags = SOCK_CLOEXEC, .readiness = R::input, .retry_when_ready = true, .points_into_owner = true,
     .writes_owner_after_submit = true, .perform = &do_accept},
    {.kind = io_kind::connect, .name = "connect", .uring_opcode = LWT_URING_OP(CONNECT), .readiness = R::output,
     .points_into_owner = true, .perform = &do_connect},
    {.kind = io_kind::shutdown, .name = "shutdown", .uring_opcode = LWT_URING_OP(SHUTDOWN),
     .perform = &do_shutdown},
    {.kind = io_kind::close, .name = "close", .uring_opcode = LWT_URING_OP(CLOSE), .perform = &do_close},
    {.kind = io_kind::fsync, .name = "fsync", .uring_opcode = LWT_URING_OP(FSYNC), .may_block_on_disk = true,
     .perform = &do_fsync},
    {.kind = io_kind::poll, .name = "poll", .uring_opcode = LWT_URING_OP(POLL_ADD), .readiness = R::from_flags,
     .perform = &do_poll},
    {.kind = io_kind::openat, .name = "openat", .uring_opcode = LWT_URING_OP(OPENAT), .forced_flags = O_CLOEXEC,
     .points_into_owner = true, .may_block_on_disk = true, .perform = &do_openat},
    // (statx reads its path only when it runs, before 5.18: one more reason it cannot move.)
    {.kind = io_kind::statx, .name = "statx", .uring_opcode = LWT_URING_OP(STATX), .addr2_in_off = true,
     .points_into_owner = true, .writes_owner_after_submit = true, .may_block_on_disk = true, .perform = &do_statx},
    {.kind = io_kind::unlinkat, .name = "unlinkat", .uring_opcode = LWT_URING_OP(UNLINKAT),
     .points_into_owner = true, .may_block_on_disk = true, .perform = &do_unlinkat},
    {.kind = io_kind::renameat, .name = "renameat", .uring_opcode = LWT_URING_OP(RENAMEAT), .addr2_in_off = true,
     .points_into_owner = true, .may_block_on_disk = true, .perform = &do_renameat},
    {.kind = io_kind::mkdirat, .name = "mkdirat", .uring_opcode = LWT_URING_OP(MKDIRAT), .points_into_owner = true,
     .may_block_on_disk = true, .perform = &do_mkdirat},
    {.kind = io_kind::symlinkat, .name = "symlinkat", .uring_opcode = LWT_URING_OP(SYMLINKAT),
     .addr2_in_off = true, .points_into_owner = true, .may_block_on_disk = true, .perform = &do_symlinkat},
    {.kind = io_kind::linkat, .name = "linkat", .uring_opcode = LWT_URING_OP(LINKAT), .addr2_in_off = true,
     .points_into_owner = true, .may_block_on_disk = true, .perform = &do_linkat},
    // (io_uring: a multishot recv with IOSQE_BUFFER_SELECT, per socket, not one SQE per
    // operation -- see uring_engine.hpp; counts_len_bytes: len is the buffer's size.)
    {.kind = io_kind::recv_chunk, .name = "recv", .uring_opcode = LWT_URING_OP(RECV), .readiness = R::input,
     .counts_len_bytes = true, .perform = &do_recv_chunk},
};

namespace {
constexpr bool in_order() {
    for (std::size_t i = 0; i < static_cast<std::size_t>(io_kind::count_); ++i)
        if (static_cast<std::size_t>(io_kinds[i].kind) != i || io_kinds[i].perform == nullptr) return false;
    return true;
}
static_assert(in_order(), "io_kinds: one entry per io_kind, in the enum's order");
}  // namespace

// ---------------------------------------------------------------------------------------
// Cancellation (rule 7 of the life of an io_op) and resumption.

void cancel_op(io_op& op) noexcept {
    op.cancel_requested = true;
    if (op.in_flight())
        if (io_engine* e = io_engine::current_if_any()) e->cancel(op);
}

namespace {

void cancel_op_action(cancelable* c) noexcept { cancel_op(*static_cast<io_op*>(c)); }

}  // namespace

void cancel_io_op(cancelable* self, cancel_walk& w, cell_base* owner) {
    auto* op = static_cast<io_op*>(self);
    if (op->phase != io_phase::done && owner != nullptr) w.leaf(self, owner, &cancel_op_action);
}

void resume_awaiter(io_op* op) noexcept { resume_awaiting(*op); }

}  // namespace lwt::detail
