// An I/O operation as the engines see it: its kind (what system call), its request, its
// result and its continuation -- and the one place that says what each kind *is*.
//
// The life of an io_op
// --------------------
// 1. Owner. An io_op lives inside its owner: a `unix_::operation` (in the awaiting frame,
//    or a local), the promise cell an operation was converted into, or an `io_awaiter` in a
//    library coroutine. The owner does not move or die while the op is `pending` (io_op
//    rule 6 says how it moves anyway; its destructor cancels or converts first).
// 2. idle. The owner writes the request (kind, fd, addr, addr2, len, off, flags; see
//    io_kinds for what each field means per kind; a field the kind does not use stays 0)
//    and the continuation (complete, frame, coro). Nobody else reads the op.
// 3. Start. `start(op)` true: the op is `done` at once (res is set; the engine kept
//    nothing and will not call complete). False: the op is `pending`. Nothing fails in
//    between: a failure is a result (res = -errno).
// 4. pending (or polling). The engine owns the bookkeeping fields (next, prev, slot, tag,
//    orphaned), `phase` and `res`; the kernel may read what the request points at and write the
//    caller's buffers -- and, for the kinds whose `writes_owner_after_submit` is set, the
//    owner's memory next to the op. The owner changes no request field and frees no buffer.
// 5. done. The engine sets res (>= 0, or -errno) and cqe_flags, phase = done, and calls
//    `complete(op)` exactly once, on the loop thread, as a resolution of its own (or nested
//    in the caller's when it comes from cancel). After that it never touches the op again;
//    complete may resume the frame that holds the op, which may destroy it.
// 6. Relocation. An owner that must move a pending op (a conversion to a promise) copies
//    the request into `to`, re-aims the pointers into its own memory at `to`'s, and calls
//    `relocate(from, to)`. True: `to` is pending in `from`'s place (in the kernel too) and
//    `from` is idle. False only for a kind whose `writes_owner_after_submit` is set, once the
//    kernel took it: the owner cancels `from` (io_op rule 7), copies what the kernel wrote, and
//    starts `to` afresh -- unless the kernel performed it, or its fd was forgotten
//    meanwhile (`orphaned`: the number may name another file by now).
// 7. Cancellation. `cancel_op` sets cancel_requested and, if the op is pending, cancels it
//    in its engine synchronously: when it returns, complete has run and the kernel no longer
//    touches any of the op's memory. If the kernel finished first, its result is delivered
//    with cancel_requested set, and the owner decides (a descriptor it got is closed). A
//    close is never cancelled in the kernel, only waited for.
// 8. forget_fd. Before a descriptor is closed, its pending ops complete with -EBADF (epoll:
//    at once; io_uring: they are marked `orphaned` and complete at the next iteration).
// 9. Teardown. Destroying an engine completes every pending op with -ECANCELED (a close
//    the kernel had not started is performed), and waits for the kernel's last completion
//    before the ring is unmapped.
#pragma once

#include <lwt/detail/state.hpp>

#include <poll.h>

#include <cstdint>

namespace lwt::detail {

// The system calls an engine runs. What each one is -- its fields, its io_uring opcode, the
// readiness it waits for, what the kernel keeps pointing at -- is described once, in
// io_kinds (lib/detail/io_op.cpp). Adding a kind: a line here, an entry there, and the
// unix_ call that fills the request.
enum class io_kind : std::uint8_t {
    read,
    write,
    readv,
    writev,
    recv,
    send,
    recvmsg,
    sendmsg,
    accept,
    connect,
    shutdown,
    close,
    fsync,
    poll,
    openat,
    statx,
    unlinkat,
    renameat,
    mkdirat,
    symlinkat,
    linkat,
    recv_chunk,  // a recv into a buffer of the loop's pool (buffer_pool.hpp)
    count_
};

// Where an op is in its life (see above). `pending` and `polling` are in flight: the engine
// owns the op. `polling` is io_uring's: an O_NONBLOCK file said -EAGAIN, and the op's slot
// now carries a POLL_ADD for its readiness, after which the op is submitted again.
enum class io_phase : std::uint8_t { idle, done, pending, polling };

// What readiness of its descriptor a kind waits for where it would block.
enum class io_readiness : std::uint8_t {
    none,        // not about readiness (files, paths, close): performed when asked
    input,       // POLLIN: data, a connection, end of file
    output,      // POLLOUT: room to write, a finished connect
    from_flags,  // a poll: the mask in `flags` (input if it has POLLIN or POLLPRI)
};

struct io_op;
struct coro_info;  // (coroutine.hpp)

// What a kind is. The request's fields map one to one onto an io_uring SQE: opcode, fd,
// addr, len, off (or addr2, a second pointer, where `addr2_in_off`), and the op's flags with
// `forced_flags` added (the SQE's per-opcode flags word: msg_flags, accept_flags,
// open_flags, statx_flags, poll32_events...).
struct io_kind_traits {
    io_kind kind;
    const char* name = "";
    std::uint8_t uring_opcode = 0;  // IORING_OP_*
    bool addr2_in_off = false;       // the SQE's off carries addr2
    int forced_flags = 0;            // always added: MSG_NOSIGNAL, SOCK_CLOEXEC, O_CLOEXEC
    io_readiness readiness = io_readiness::none;
    // io_uring: an O_NONBLOCK descriptor's -EAGAIN is retried once `readiness` is signalled.
    bool retry_when_ready = false;
    // The result counts bytes of the buffer `addr`/`len` (a short count on a stream socket
    // means it is drained for now).
    bool counts_len_bytes = false;
    // The request points at memory of the op's owner (an address, a path, a message header,
    // a statx buffer), not only at the caller's buffers: a relocation re-aims it.
    bool points_into_owner = false;
    // ... and the kernel still writes there after it took the request (accept's peer
    // address, recvmsg's header, statx's buffer): such an op cannot move once submitted.
    // The others copy what they read (an address, a path) when they take the request.
    bool writes_owner_after_submit = false;
    // The call may wait for a disk (a path lookup, an fsync): the epoll engine makes it on
    // the worker pool rather than on the loop (io_uring hands such calls to its own workers).
    bool may_block_on_disk = false;
    // The plain system call, performed now: >= 0, or -errno. A kind that borrows its buffer
    // from the loop (recv_chunk) names the buffer in op.cqe_flags, as io_uring does.
    std::int32_t (*perform)(io_op& op) noexcept = nullptr;
};

LWT_EXPORT extern const io_kind_traits io_kinds[static_cast<std::size_t>(io_kind::count_)];

inline const io_kind_traits& traits_of(io_kind k) noexcept { return io_kinds[static_cast<std::size_t>(k)]; }

// Whether a call that said EINTR is made again by the engine (Lwt retries it too): an
// interrupted call did nothing. Except a close (Linux frees the number even then: repeated,
// it could close another file) and a connect (interrupted, it goes on asynchronously).
inline bool restartable(io_kind k) noexcept { return k != io_kind::close && k != io_kind::connect; }

struct io_op : cancelable {
    // ---- request (the owner's while idle; see io_kinds for each kind's use) ----
    io_kind kind{};
    io_phase phase = io_phase::idle;
    bool cancel_requested = false;  // lwt::cancel reached this operation (io_op rule 7)
    bool orphaned = false;           // io_uring: its fd was forgotten while it was in flight
    int fd = -1;
    int flags = 0;
    std::uint32_t len = 0;
    std::uint64_t off = 0;           // ~0: the current file position
    void* addr = nullptr;
    void* addr2 = nullptr;
    // ---- result (the engine's while pending) ----
    std::int32_t res = 0;            // >= 0, or -errno
    std::uint32_t cqe_flags = 0;
    // ---- continuation ----
    void (*complete)(io_op*) noexcept = nullptr;
    void* frame = nullptr;           // the awaiting coroutine, or the cell that owns the op
    coro_info* coro = nullptr;       // the awaiting coroutine's keys and cancel forwarding slot
    // ---- engine bookkeeping: the queue it waits in (epoll: its fd's; io_uring: a listener's) ----
    io_op* next = nullptr;
    io_op* prev = nullptr;
    std::uint32_t slot = 0;          // io_uring: its entry in the engine's slot table
    std::uint32_t tag = 0;           // io_uring: which use of the slot (stale cancels miss);
                                     // epoll: the serve() count when it parked

    io_op() noexcept;

    bool in_flight() const noexcept { return phase >= io_phase::pending; }
    const io_kind_traits& traits() const noexcept { return traits_of(kind); }
    // Which readiness this op waits for (a poll's comes from its mask): input, output or none.
    io_readiness readiness() const noexcept {
        io_readiness r = traits().readiness;
        if (r != io_readiness::from_flags) return r;
        return (flags & (POLLIN | POLLPRI)) ? io_readiness::input : io_readiness::output;
    }
};

// The cancel behaviour of a pending operation: a leaf whose action asks its engine.
LWT_EXPORT void cancel_io_op(cancelable* self, cancel_walk& w, cell_base* owner);
inline io_op::io_op() noexcept { cancel_fn = &cancel_io_op; }

// lwt::cancel reaching `op`: marks it, and cancels it in its engine if it is pending there
// (synchronously: complete(op) has run when this returns).
LWT_EXPORT void cancel_op(io_op& op) noexcept;

// The completion of an op awaited by a coroutine: resume it (with its keys; its cancel
// forwarding slot cleared).
LWT_EXPORT void resume_awaiter(io_op* op) noexcept;
// An unawaited operation records its completion; whoever looks next (await, conversion)
// finds the result in the io_op.
inline void note_done(io_op*) noexcept {}

// Rule 3's "true": `op` completed at its start with `res`; the engine keeps nothing of it.
inline bool done_at_once(io_op& op, std::int32_t res) noexcept {
    op.res = res;
    op.phase = io_phase::done;
    return true;
}

// Performs `op` synchronously with the plain system call (no waiting beyond what the call
// itself does); returns the result as io_uring would (-errno on failure).
inline std::int32_t perform_now(io_op& op) noexcept { return op.traits().perform(op); }

// A FIFO of pending operations linked through their next/prev: the operations parked on an
// fd (epoll) or waiting for a listener's multishot accept (io_uring).
struct op_queue {
    io_op* head = nullptr;
    io_op* tail = nullptr;

    bool empty() const noexcept { return head == nullptr; }
    void push(io_op& op) noexcept {
        op.next = nullptr;
        op.prev = tail;
        (tail != nullptr ? tail->next : head) = &op;
        tail = &op;
    }
    void remove(io_op& op) noexcept {
        (op.prev != nullptr ? op.prev->next : head) = op.next;
        (op.next != nullptr ? op.next->prev : tail) = op.prev;
        op.next = op.prev = nullptr;
    }
    io_op* pop() noexcept {
        io_op* op = head;
        if (op != nullptr) remove(*op);
        return op;
    }
    // `to` takes `from`'s place in the queue.
    void replace(io_op& from, io_op& to) noexcept {
        to.prev = from.prev;
        to.next = from.next;
        (to.prev != nullptr ? to.prev->next : head) = &to;
        (to.next != nullptr ? to.next->prev : tail) = &to;
        from.next = from.prev = nullptr;
    }
    bool contains(const io_op& op) const noexcept {
        for (const io_op* o = head; o != nullptr; o = o->next)
            if (o == &op) return true;
        return false;
    }
};

}  // namespace lwt::detail
