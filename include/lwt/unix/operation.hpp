// Lwt_unix's operations: one system call in flight, awaited in place or converted to a
// promise. The calls that return them live in fd.hpp, fs.hpp and socket.hpp, each with the
// kind (K) that describes its result; the engine side of an operation is io_op (see
// detail/io_op.hpp).
#pragma once

#include <lwt/detail/io_op.hpp>
#include <lwt/promise.hpp>

#include <cstdint>
#include <string>

namespace lwt::detail {
// What a call that returns an operation<K> asks of the kernel: the io_op's request (see
// io_kinds for each kind's fields; the kind's `extra` aims addr/addr2 at its own memory).
struct op_request {
    io_kind kind;
    int fd = -1;
    void* addr = nullptr;
    std::uint32_t len = 0;    // bytes, iovecs, a mode...
    std::uint64_t off = 0;    // ~0: the current position
    int flags = 0;
    const char* call = "";    // for errors: "read", "accept", ...
};
inline constexpr std::uint64_t at_position = ~std::uint64_t{0};
struct finished_t {};
struct at_once_t {};
}  // namespace lwt::detail

namespace lwt::unix_ {

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
// had finished, restarted -- never on a descriptor closed meanwhile: that is EBADF).
// main::run, bind, map, join, pick, both... convert for you.
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
// descriptor. A kind may also turn some failures into values (failure_value(errno)), and
// name what its errors show as the call's argument (error_arg(op, extra); the descriptor
// otherwise).
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
        if (LWT_UNLIKELY(op_.in_flight()))
            abandon();
        else if constexpr (K::owns_result)
            if (op_.phase == detail::io_phase::done) discard();
    }

    // What an lwt coroutine's co_await uses: a handle, by value, since g++ 12 copies an
    // awaiter it gets by reference -- and the operation must not move.
    class awaiter {
    public:
        using lwt_native_awaiter = void;
        explicit awaiter(operation& o) noexcept : o_(o) {}
        bool await_ready() const noexcept { return o_.op_.phase == detail::io_phase::done; }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            using detail::io_phase;
            detail::io_op& op = o_.op_;
            if (LWT_UNLIKELY(op.frame != nullptr || op.phase == io_phase::idle)) o_.misuse();
            auto& p = h.promise();
            // Cancelling the coroutine reaches the operation from here on -- also while the
            // trampoline is handed back, when deferred work may cancel it (op then records
            // its completion without resuming anyone).
            p.awaiting = &op;
            op.coro = &p;
            p.suspending();
            if (LWT_UNLIKELY(op.phase == io_phase::done)) {
                p.awaiting = nullptr;
                return false;
            }
            op.frame = h.address();
            op.complete = &detail::resume_awaiter;
            return true;
        }
        value_type await_resume() {
            detail::io_op& op = o_.op_;
            op.frame = nullptr;  // nobody awaits it any more
            if (LWT_LIKELY(op.res >= 0 && !op.cancel_requested)) {
                if constexpr (K::owns_result) {
                    if (LWT_UNLIKELY(op.phase != detail::io_phase::done)) o_.misuse();  // given already
                    op.phase = detail::io_phase::idle;
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

    detail::io_op op_;
    const char* call_;
    // (Most kinds keep nothing beside the op: an empty extra takes no room in the frame.)
    [[no_unique_address]] typename K::extra x_;
};

}  // namespace lwt::unix_

namespace lwt {
// Lwt.cancel for an operation that is not (yet) a promise: see operation::cancel.
template <class K>
void cancel(unix_::operation<K>& op) noexcept {
    op.cancel();
}
}  // namespace lwt
