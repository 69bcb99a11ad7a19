// The io_uring proactor. See the reading guide in include/lwt/detail/engine.hpp.
//
// user_data of an SQE: for an operation, its slot's use tag, its slot and bit 2 (see
// slots_), with bit 0 set for the readiness wait (POLL_ADD) that precedes a retry after
// -EAGAIN; a listener's address with bit 1 set for its multishot accept, a receiver's with
// bits 0 and 1 set for its multishot recv (recv_chunk); the wake-up poll's
// io_op address (8-aligned: bits 0-2 clear); ring_msg_data (8) for a ring message from
// another loop, and a token << 32 | ring_msg_failed (9) for the failure of one this engine
// sent; 0 for SQEs whose completion is ignored (async cancels); LIBURING_UDATA_TIMEOUT for
// liburing's own wait timeouts.
#include <lwt/detail/uring_engine.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace lwt::detail {

namespace {

// The readiness wait before a retry of an O_NONBLOCK file's -EAGAIN, or 0: no retry.
unsigned retry_mask(const io_op& op) noexcept {
    if (!op.traits().retry_when_ready) return 0;
    return op.readiness() == io_readiness::input ? POLLIN : POLLOUT;
}

constexpr std::uint64_t retry_tag = 1;     // the readiness wait before a retry
constexpr std::uint64_t listener_tag = 2;  // a listener's multishot accept (its address)
constexpr std::uint64_t slot_tag = 4;      // an operation (its slot); else the wake-up poll
constexpr std::uint64_t receiver_tag = 3;  // a receiver's multishot recv (its address)
// Without slot_tag or listener_tag, besides the wake-up poll's address: a ring message
// received from another loop's engine, and the failure of one this engine sent (the token in
// the upper half). Neither is an address (the wake-up poll's is 8-aligned and not 8).
constexpr std::uint64_t ring_msg_data = 8;
constexpr std::uint64_t ring_msg_failed = 9;

// Receive bundles (6.10) and incremental buffer consumption (6.12): not in liburing 2.3's
// headers. The values are the kernel's ABI.
constexpr unsigned feat_recvsend_bundle = 1u << 14;  // IORING_FEAT_RECVSEND_BUNDLE
constexpr unsigned recvsend_bundle = 1u << 4;        // IORING_RECVSEND_BUNDLE, in sqe->ioprio
constexpr std::uint16_t pbuf_ring_inc = 2;           // IOU_PBUF_RING_INC, in io_uring_buf_reg's flags (pad here)
constexpr std::uint32_t cqe_f_buf_more = 1u << 4;    // IORING_CQE_F_BUF_MORE

// IORING_ACCEPT_MULTISHOT arrived in 5.19; older kernels reject it with EINVAL, which is
// also what accept on a socket that does not listen gives -- so ask the kernel's version.
bool kernel_at_least(int major, int minor) noexcept {
    utsname u;
    if (::uname(&u) != 0) return false;
    int ma = 0, mi = 0;
    if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
    return ma > major || (ma == major && mi >= minor);
}

std::uint64_t data_of(const io_op& op) noexcept {
    return (static_cast<std::uint64_t>(op.tag) << 32) | (static_cast<std::uint64_t>(op.slot) << 3) | slot_tag |
           (op.phase == io_phase::polling ? retry_tag : 0);
}

}  // namespace

std::unique_ptr<io_engine> uring_engine::create(std::string& why) {
    std::unique_ptr<uring_engine> e(new uring_engine());
    // Newest set-up first; an older kernel refuses flags it does not know with EINVAL.
    const unsigned attempts[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CQSIZE,
        IORING_SETUP_CQSIZE,
        0,
    };
    int r = -EINVAL;
    io_uring_params p;
    unsigned sq_entries = 2048, cq_entries = 8192;
    if (e->faults_) {  // (small queues, to exercise a full SQ and an overflowing CQ)
        const fault_config& c = e->faults_->config();
        if (c.sq != 0) sq_entries = c.sq;
        if (c.cq != 0) cq_entries = c.cq;
        if (cq_entries < sq_entries) cq_entries = sq_entries;
    }
    for (unsigned flags : attempts) {
        std::memset(&p, 0, sizeof p);
        p.flags = flags;
        p.cq_entries = cq_entries;
        r = io_uring_queue_init_params(sq_entries, &e->ring_, &p);
        if (r != -EINVAL) break;
    }
    if (r < 0) {
        why = fmt::format("io_uring_setup: {}", std::strerror(-r));
        return nullptr;
    }
    e->ring_ok_ = true;
    const unsigned needed = IORING_FEAT_NODROP | IORING_FEAT_RW_CUR_POS | IORING_FEAT_FAST_POLL;
    if ((p.features & needed) != needed) {
        why = "the kernel's io_uring is too old (needs 5.7 or later)";
        return nullptr;
    }
    io_uring_probe* probe = io_uring_get_probe_ring(&e->ring_);
    if (probe == nullptr) {
        why = "io_uring cannot be probed";
        return nullptr;
    }
    for (const io_kind_traits& k : io_kinds)
        e->native_[static_cast<std::size_t>(k.kind)] = io_uring_opcode_supported(probe, k.uring_opcode) != 0;
    bool has_cancel = io_uring_opcode_supported(probe, IORING_OP_ASYNC_CANCEL) != 0;
    e->msg_ring_ = io_uring_opcode_supported(probe, IORING_OP_MSG_RING) != 0 &&
                   std::getenv("LWT_URING_NO_MSG_RING") == nullptr;
    e->cqe_skip_ = (p.features & IORING_FEAT_CQE_SKIP) != 0;
    e->bundle_feature_ = (p.features & feat_recvsend_bundle) != 0 && std::getenv("LWT_URING_NO_BUNDLE") == nullptr;
    io_uring_free_probe(probe);
    for (io_kind k : {io_kind::read, io_kind::write, io_kind::readv, io_kind::writev, io_kind::recv, io_kind::send,
                      io_kind::accept, io_kind::connect, io_kind::poll, io_kind::close}) {
        if (!e->native_[static_cast<std::size_t>(k)] || !has_cancel) {
            why = "the kernel's io_uring lacks basic operations";
            return nullptr;
        }
    }
    // Synchronous cancellation (6.0): a bogus target answers ENOENT where it exists.
    if (std::getenv("LWT_URING_ASYNC_CANCEL") == nullptr) {
        io_uring_sync_cancel_reg reg;
        std::memset(&reg, 0, sizeof reg);
        reg.addr = 2;
        reg.fd = -1;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        e->sync_cancel_ = io_uring_register_sync_cancel(&e->ring_, &reg) == -ENOENT;
    }
    e->multishot_accept_ = kernel_at_least(5, 19) && std::getenv("LWT_URING_NO_MULTISHOT") == nullptr;
    // Accepts then leave start's fast path the way unsupported opcodes do: the data path
    // pays nothing for the test.
    if (e->multishot_accept_) e->native_[static_cast<std::size_t>(io_kind::accept)] = false;
    // A recv_chunk is never one SQE of its own (a receiver's multishot, or a poll then the
    // plain recv): it leaves start's fast path by the same bit.
    e->native_[static_cast<std::size_t>(io_kind::recv_chunk)] = false;
    // The ring's descriptor registered with this thread (5.18): each io_uring_enter skips the
    // descriptor table's lookup and reference count (liburing's calls use it too).
    if (std::getenv("LWT_URING_NO_REGISTERED_RING") == nullptr)
        e->registered_ring_ = io_uring_register_ring_fd(&e->ring_) == 1;
    e->arm_wake();
    return e;
}

// io_uring_submit_and_wait (or _get_events with wait_nr 0), without liburing's general path
// (SQPOLL, IOPOLL, a ring that may need no kernel entry): this loop always enters, to
// submit and, with DEFER_TASKRUN, to run the task work that posts completions. -errno on
// failure. (What liburing's flush does: the SQEs queued since the last entry are published
// with a release store of the tail; the kernel consumes them all during the call.)
LWT_INLINE int uring_engine::enter(unsigned wait_nr) noexcept {
    io_uring_sq& sq = ring_.sq;
    const unsigned tail = sq.sqe_tail;
    if (sq.sqe_head != tail) {
        sq.sqe_head = tail;
        io_uring_smp_store_release(sq.ktail, tail);
    }
    const unsigned to_submit = tail - *sq.khead;
    return io_uring_enter(static_cast<unsigned>(registered_ring_ ? ring_.enter_ring_fd : ring_.ring_fd), to_submit,
                          wait_nr, IORING_ENTER_GETEVENTS | (registered_ring_ ? IORING_ENTER_REGISTERED_RING : 0u), nullptr);
}

uring_engine::~uring_engine() {
    if (!ring_ok_) return;
    shutdown();
    io_uring_queue_exit(&ring_);
    // The kernel has let go of the ring: chunks still lent go back to a pool that no longer
    // provides them to it.
    buffer_pool::retire(pool_);
    pool_ = nullptr;
    if (buf_ring_ != nullptr) ::munmap(buf_ring_, buf_ring_bytes_);
}

// The SQ's next entry. Inlined into the data path; a full queue goes out of line.
LWT_INLINE io_uring_sqe* uring_engine::get_sqe() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    return LWT_LIKELY(sqe != nullptr) ? sqe : get_sqe_slow();
}

LWT_COLD io_uring_sqe* uring_engine::get_sqe_slow() noexcept {
    io_uring_sqe* sqe;
    while ((sqe = io_uring_get_sqe(&ring_)) == nullptr) {
        // The submission queue is full: hand it to the kernel. EBUSY means the completion
        // queue overflowed; take completions out of the way first.
        if (io_uring_submit(&ring_) == -EBUSY) reap();
    }
    return sqe;
}

LWT_INLINE void uring_engine::link(io_op& op) noexcept {
    if (LWT_LIKELY(free_slot_ != no_slot)) {
        op.slot = free_slot_;
        free_slot_ = static_cast<std::uint32_t>(slots_[op.slot] >> 1);
    } else {
        op.slot = new_slot();
    }
    slots_[op.slot] = reinterpret_cast<std::uintptr_t>(&op);
    op.tag = ++next_tag_;
}

// (Out of line, so that the data path's functions need no registers saved for it.)
LWT_COLD std::uint32_t uring_engine::new_slot() noexcept {
    slots_.push_back(0);
    return static_cast<std::uint32_t>(slots_.size() - 1);
}

void uring_engine::unlink(io_op& op) noexcept {
    slots_[op.slot] = (static_cast<std::uintptr_t>(free_slot_) << 1) | 1;
    free_slot_ = op.slot;
}

// Queues op's SQE (its first, or its retry after a readiness wait or an EINTR).
LWT_INLINE void uring_engine::to_kernel(io_op& op) noexcept {
    if (LWT_UNLIKELY(faults_ != nullptr) && to_kernel_faulty(op)) return;
    io_uring_sqe* sqe = get_sqe();
    prep_sqe(sqe, op);
    io_uring_sqe_set_data64(sqe, data_of(op));
}

LWT_INLINE void uring_engine::queue(io_op& op) noexcept {
    op.phase = io_phase::pending;
    link(op);
    ++live_ops_;
    to_kernel(op);
}

// The data path: most kinds are one SQE of their own, which the next kernel entry submits
// (nothing is tried first: the kernel tries at once, and a socket send completes inline).
bool uring_engine::start(io_op& op) noexcept {
    if (LWT_LIKELY(native_[static_cast<std::size_t>(op.kind)])) {
        queue(op);
        return false;
    }
    return op.kind == io_kind::recv_chunk ? start_chunk(op) : start_special(op);
}

// The other kinds that are not one SQE each (recv_chunk is start_chunk's): an accept (a
// multishot accept's waiter), a kind the kernel lacks (the plain call; path operations before
// 5.11/5.15). A kind the fault injector targets is one SQE, whose fault to_kernel gives.
bool uring_engine::start_special(io_op& op) noexcept {
    if (LWT_UNLIKELY(faults_ != nullptr) && faults_->targets(op.kind)) {
        queue(op);
        return false;
    }
    if (op.kind == io_kind::accept) {  // (multishot accept, see create)
        if (try_accept_now(op)) return true;
        wait_accept(op);
        return false;
    }
    return done_at_once(op, perform_now(op));
}

// A connection accepted ahead of demand completes the accept at once.
LWT_COLD bool uring_engine::try_accept_now(io_op& op) noexcept {
    std::int32_t res = take_accepted(op.fd);
    if (res == -EAGAIN) return false;
    op.phase = io_phase::done;
    deliver(op, res);
    return true;
}

LWT_COLD void uring_engine::wait_accept(io_op& op) noexcept {
    listener& l = listener_for(op.fd);
    op.phase = io_phase::pending;
    ++live_ops_;
    l.waiters.push(op);
    if (!l.armed()) arm(l);
}

// What the fault injector makes of an SQE: none, and a completion the kernel never gave
// (queued with what cancel() may reap, dispatched next iteration) -- true; or the SQE with
// its byte count clamped to 1 (false: queued here).
LWT_COLD bool uring_engine::to_kernel_faulty(io_op& op) noexcept {
    if (tearing_down_) return false;
    // (A multishot accept shares the kernel's accepts with a retried one-shot accept, which
    // might wait for a connection the multishot took: no spurious faults there.)
    const bool spurious_ok = !(op.kind == io_kind::accept && multishot_accept_);
    if (spurious_ok || faults_->targets(op.kind)) {
        if (std::int32_t r = faults_->instead_of(op, spurious_ok)) {
            backlog_.push_back({data_of(op), r, 0});
            return true;
        }
    }
    io_uring_sqe* sqe = get_sqe();
    prep_short(sqe, op);
    io_uring_sqe_set_data64(sqe, data_of(op));
    return true;
}

// prep_sqe, with `short` faults: a byte count of 1 (a vector of one byte).
void uring_engine::prep_short(io_uring_sqe* sqe, const io_op& op) noexcept {
    prep_sqe(sqe, op);
    sqe->len = faults_->short_len(op);
    try {
        if (iovec* one = faults_->short_iovec(op, op.slot)) {
            sqe->addr = reinterpret_cast<std::uintptr_t>(one);
            sqe->len = 1;
        }
    } catch (...) {  // (no memory for the vector: the request as it is)
    }
}

void uring_engine::arm_wake() noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&wake_op_));
}

void uring_engine::wake() noexcept { eventfd_write(wake_fd_, 1); }

void uring_engine::send_ring_wake(int target_ring_fd, std::uint32_t token) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_msg_ring(sqe, target_ring_fd, 0, ring_msg_data, 0);
    // Only a failure completes here (where the kernel can skip successes, 5.17).
    if (cqe_skip_) sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, (static_cast<std::uint64_t>(token) << 32) | ring_msg_failed);
}

void uring_engine::reap() noexcept {
    unsigned head;
    unsigned n = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        backlog_.push_back({cqe->user_data, cqe->res, cqe->flags});
        ++n;
    }
    io_uring_cq_advance(&ring_, n);
}

bool uring_engine::take_from_backlog(std::uint64_t data, cqe_copy& out) noexcept {
    for (std::size_t i = backlog_pos_; i < backlog_.size(); ++i) {
        if (backlog_[i].data == data) {
            out = backlog_[i];
            backlog_[i].data = 0;  // consumed here; the dispatch loop skips it
            return true;
        }
    }
    return false;
}

LWT_INLINE void uring_engine::dispatch(const cqe_copy& c) noexcept {
    if (c.data == 0 || c.data == LIBURING_UDATA_TIMEOUT) return;
    if ((c.data & 7) == receiver_tag) {
        on_receiver_cqe(*reinterpret_cast<receiver*>(c.data & ~std::uint64_t{7}), c);
        return;
    }
    if (c.data & listener_tag) {
        on_listener_cqe(*reinterpret_cast<listener*>(c.data & ~listener_tag), c);
        return;
    }
    if (LWT_UNLIKELY(!(c.data & slot_tag))) {  // the wake-up poll, or a ring message
        if (c.data == ring_msg_data) {
            run_inbox();
            return;
        }
        if ((c.data & 0xffffffffu) == ring_msg_failed) {
            if (c.res < 0 && ring_wake_failed != nullptr) ring_wake_failed(static_cast<std::uint32_t>(c.data >> 32));
            return;
        }
        eventfd_t v;
        eventfd_read(wake_fd_, &v);
        if (!tearing_down_) arm_wake();
        run_inbox();
        return;
    }
    io_op* op = op_at(c.data);
    if (c.data & retry_tag) {
        // The readiness wait before a retry has ended.
        op->phase = io_phase::pending;
        if (c.res < 0 || op->cancel_requested || op->orphaned) {
            std::int32_t res = op->cancel_requested ? -ECANCELED : op->orphaned ? -EBADF : c.res;
            if (res == -ECANCELED) res = cancelled(*op);
            unlink(*op);
            finish(*op, res);
            return;
        }
        if (op->kind == io_kind::recv_chunk)
            retry_chunk(*op);
        else
            to_kernel(*op);
        return;
    }
    // A completion that says the call did nothing (EAGAIN, EINTR) is retried -- unless the
    // op was cancelled, or its fd forgotten: the number may name another file by now.
    if (LWT_UNLIKELY(c.res == -EAGAIN || c.res == -EINTR) && (op->cancel_requested || op->orphaned)) {
        unlink(*op);
        finish(*op, op->cancel_requested ? -ECANCELED : -EBADF);
        return;
    }
    if (LWT_UNLIKELY(c.res == -EINTR) && restartable(op->kind)) {
        to_kernel(*op);
        return;
    }
    if (c.res == -EAGAIN) {
        // An O_NONBLOCK file: wait for readiness, then retry the operation.
        if (unsigned mask = retry_mask(*op)) {
            op->phase = io_phase::polling;
            io_uring_sqe* sqe = get_sqe();
            io_uring_prep_poll_add(sqe, op->fd, mask);
            io_uring_sqe_set_data64(sqe, data_of(*op));
            return;
        }
    }
    std::int32_t res = c.res;
    if (LWT_UNLIKELY(res == -ECANCELED)) res = cancelled(*op);
    unlink(*op);
    finish(*op, res, c.flags);
}

// The result of an operation the kernel dropped unperformed.
LWT_COLD std::int32_t uring_engine::cancelled(io_op& op) noexcept {
    if (!tearing_down_) return -ECANCELED;
    // The teardown's cancel-everything stopped it. A close must still happen: its file_descr
    // let go of the number and nobody else will close it (the kernel hands closes of files
    // with a flush method to io-wq, where the cancel stops them before they detach the
    // descriptor). Outside teardown closes are never cancelled (see cancel).
    if (op.kind == io_kind::close) return ::close(op.fd) == 0 ? 0 : -errno;
    op.cancel_requested = true;
    return -ECANCELED;
}

// The loop's one call per iteration. The path from a CQE to its coroutine -- enter,
// dispatch_completions, dispatch, on_receiver_cqe, finish, resume_awaiting -- is inlined into
// it (LWT_INLINE), as is the SQE's path into start: each call saved and restored the registers
// its callee might use, and the calls were a quarter of an echoed message's instructions
// (bench/RESULTS.md, issue 15 part 5). Rarely taken branches stay out of line (LWT_COLD), so
// that they cost the data path no registers.
void uring_engine::wait(std::int64_t timeout_ns) {
    if (LWT_UNLIKELY(!retired_.empty()) && free_retired()) timeout_ns = 0;  // (its waiters ran: see what they started)
    if (LWT_UNLIKELY(!retired_receivers_.empty()) && free_retired_receivers()) timeout_ns = 0;
    if (backlog_pos_ < backlog_.size()) timeout_ns = 0;  // completions are waiting already
    int submitted;  // (what the kernel took of what was queued; < 0: an error, none)
    if (timeout_ns == 0) {
        submitted = enter(0);
    } else if (timeout_ns < 0) {
        submitted = enter(1);
    } else {
        __kernel_timespec ts;
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        io_uring_cqe* cqe = nullptr;
        const unsigned queued = io_uring_sq_ready(&ring_);  // (this call gives no count)
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
        submitted = static_cast<int>(queued - io_uring_sq_ready(&ring_));
    }
    woke(submitted > 0 ? static_cast<unsigned>(submitted) : 0);
    for (bool again = true;; again = false) {
        dispatch_completions();
        // What the completions started -- a send after a receive, typically -- goes to the
        // kernel now, without waiting: a socket send completes inline, so its completion is
        // posted by the time the call returns and is dispatched in this iteration. An echoed
        // message costs one iteration, not two, and the same two kernel entries. Once only:
        // timers, pauses and hooks have their turn every iteration.
        if (!again || io_uring_sq_ready(&ring_) == 0) break;
        submitted = enter(0);
        if (submitted > 0) metrics_.submitted += static_cast<unsigned>(submitted);
    }
    backlog_.clear();
    backlog_pos_ = 0;
}

// Dispatch in order: first what a cancel() moved aside, then the ring. Each CQE is copied and
// consumed before its dispatch, so that a completion may cancel another operation -- whose
// cancel() then reaps the ring further, into backlog_.
LWT_INLINE void uring_engine::dispatch_completions() noexcept {
    for (;;) {
        cqe_copy c;
        if (backlog_pos_ < backlog_.size()) {
            c = backlog_[backlog_pos_++];
        } else {
            // What the kernel posted, read straight from the ring: io_uring_peek_cqe would, on an
            // empty ring, call into liburing and may enter the kernel to run deferred task work
            // -- which the next iteration's io_uring_enter does anyway. (Acquire on the tail, so
            // the CQE's contents are visible; the head is ours. The ring is set up without
            // CQE32.)
            const unsigned head = *ring_.cq.khead;
            if (head == io_uring_smp_load_acquire(ring_.cq.ktail)) break;
            const io_uring_cqe& cqe = ring_.cq.cqes[head & ring_.cq.ring_mask];
            c = {cqe.user_data, cqe.res, cqe.flags};
            io_uring_cq_advance(&ring_, 1);
        }
        dispatch(c);
    }
}

void uring_engine::cancel_by_data(std::uint64_t data) noexcept {
    if (sync_cancel_) {
        io_uring_sync_cancel_reg reg;
        std::memset(&reg, 0, sizeof reg);
        reg.addr = data;
        reg.fd = -1;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        io_uring_register_sync_cancel(&ring_, &reg);
    } else {
        io_uring_sqe* sqe = get_sqe();
        io_uring_prep_cancel64(sqe, data, 0);
        io_uring_sqe_set_data64(sqe, 0);
        io_uring_submit(&ring_);
    }
}

void uring_engine::cancel(io_op& op) noexcept {
    if (!op.in_flight()) return;
    op.cancel_requested = true;
    if (op.kind == io_kind::accept && multishot_accept_ && waited_on(op) != nullptr) {
        // A waiter of a multishot accept: nothing of its own is in the kernel.
        if (listener* l = waited_on(op)) l->waiters.remove(op);
        finish(op, -ECANCELED);
        return;
    }
    if (op.kind == io_kind::recv_chunk && op.phase == io_phase::pending) {
        // A receiver's waiter, or one waiting for a buffer: nothing of its own in the kernel.
        // (A chunk the kernel gives meanwhile goes to the next waiter.)
        if (receiver* r = receiver_waited_on(op))
            r->waiters.remove(op);
        else
            chunk_starved_.remove(op);
        finish(op, -ECANCELED);
        return;
    }
    std::uint64_t data = data_of(op);
    cqe_copy c;
    // Its completion may be reaped already (by the current dispatch loop or another cancel).
    if (take_from_backlog(data, c)) {
        dispatch(c);
        return;
    }
    io_uring_submit(&ring_);  // the operation's SQE must have reached the kernel
    // A close is never cancelled, only waited for: its file_descr let go of the number, and
    // a close whose outcome is unknown can be neither retried nor left undone.
    if (op.kind != io_kind::close) cancel_by_data(data);
    // Synchronous: wait until the kernel has posted the operation's completion (-ECANCELED,
    // or its result if it won the race, or a close's), so that it never touches the buffers
    // again.
    for (int spins = 0;; ++spins) {
        io_uring_submit_and_get_events(&ring_);
        reap();
        if (take_from_backlog(data, c)) break;
        if (spins > 0) io_uring_submit_and_wait(&ring_, 1);
    }
    dispatch(c);
}

bool uring_engine::relocate(io_op& from, io_op& to) noexcept {
    if (from.kind == io_kind::accept && multishot_accept_ && waited_on(from) != nullptr) {
        // A waiter of a multishot accept: it keeps its place in the queue.
        waited_on(from)->waiters.replace(from, to);
    } else if (from.kind == io_kind::recv_chunk && from.phase == io_phase::pending) {
        // Likewise a receiver's waiter, or one waiting for a buffer.
        if (receiver* r = receiver_waited_on(from))
            r->waiters.replace(from, to);
        else
            chunk_starved_.replace(from, to);
    } else {
        if (from.traits().points_into_owner && from.phase != io_phase::polling) {  // (a readiness poll points nowhere)
            // Its SQE must reach the kernel with `to`'s pointers; once the kernel has consumed
            // it, a connect's address is copied already, but an accept's peer address is still
            // to be written (writes_owner_after_submit). Unconsumed SQEs run from the kernel's head
            // (published, not yet consumed: enter only consumes inside io_uring_enter, on this
            // thread) to ours.
            bool reaimed = false;
            io_uring_sq& sq = ring_.sq;
            const std::uint64_t data = data_of(from);
            to.slot = from.slot;  // (a short vector is kept by slot)
            const unsigned head = io_uring_smp_load_acquire(sq.khead);
            for (unsigned i = sq.sqe_tail; i != head && !reaimed;) {
                io_uring_sqe& sqe = sq.sqes[--i & sq.ring_mask];
                if (sqe.user_data != data) continue;
                if (LWT_UNLIKELY(faults_ != nullptr))
                    prep_short(&sqe, to);
                else
                    prep_sqe(&sqe, to);
                io_uring_sqe_set_data64(&sqe, data);
                reaimed = true;
            }
            if (!reaimed && from.traits().writes_owner_after_submit) return false;
        }
        slots_[from.slot] = reinterpret_cast<std::uintptr_t>(&to);
        to.slot = from.slot;
        to.tag = from.tag;
        to.orphaned = from.orphaned;
    }
    to.phase = from.phase;  // (pending, or io_uring's polling)
    from.phase = io_phase::idle;
    return true;
}

void uring_engine::forget_fd(int fd) noexcept {
    retire(fd);
    retire_receiver(fd);
    bool any = false;
    for_each_pending([&](io_op& op) {
        if (op.fd == fd) any = op.orphaned = true;
    });
    if (!any) return;
    io_uring_submit(&ring_);
    if (sync_cancel_) {
        io_uring_sync_cancel_reg reg;
        std::memset(&reg, 0, sizeof reg);
        reg.fd = fd;
        reg.flags = IORING_ASYNC_CANCEL_FD | IORING_ASYNC_CANCEL_ALL;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        io_uring_register_sync_cancel(&ring_, &reg);
    } else {
        for_each_pending([&](io_op& op) {
            if (op.fd == fd) cancel_by_data(data_of(op));
        });
    }
    // The cancelled operations complete with -ECANCELED at the next iteration; not asked
    // for by lwt::cancel, they report EBADF.
}

void uring_engine::cancel_all() noexcept {
    tearing_down_ = true;
    while (!listeners_.empty()) retire(listeners_.begin()->first);
    for (std::size_t fd = 0; fd < receivers_.size(); ++fd) retire_receiver(static_cast<int>(fd));
    while (io_op* op = chunk_starved_.pop()) {
        op->cancel_requested = true;
        finish(*op, -ECANCELED);
    }
    io_uring_submit(&ring_);
    if (sync_cancel_) {
        io_uring_sync_cancel_reg reg;
        std::memset(&reg, 0, sizeof reg);
        reg.flags = IORING_ASYNC_CANCEL_ANY;
        reg.timeout.tv_sec = -1;
        reg.timeout.tv_nsec = -1;
        io_uring_register_sync_cancel(&ring_, &reg);
    } else {
        for_each_pending([&](io_op& op) { cancel_by_data(data_of(op)); });
        cancel_by_data(reinterpret_cast<std::uint64_t>(&wake_op_));  // (no slot_tag: the wake-up poll)
    }
    // Collect every completion (coroutines resume and may start more work: cancel it too).
    for (int round = 0; round < 1000 && (live_ops_ > 0 || backlog_pos_ < backlog_.size() || !retired_.empty() ||
                                         !retired_receivers_.empty());
         ++round) {
        wait(100'000'000);
        if (live_ops_ > 0)
            for_each_pending([&](io_op& op) {
                if (!op.cancel_requested) {
                    op.cancel_requested = true;
                    cancel_by_data(data_of(op));
                }
            });
    }
}

// ---------------------------------------------------------------------------------------
// Multishot accept: one SQE per listening socket, shared by its accepts.

uring_engine::listener* uring_engine::find_listener(int fd) noexcept {
    auto it = listeners_.find(fd);
    return it == listeners_.end() ? nullptr : it->second.get();
}

uring_engine::listener& uring_engine::listener_for(int fd) {
    auto& slot = listeners_[fd];
    if (!slot) {
        slot = std::make_unique<listener>();
        slot->fd = fd;
    }
    return *slot;
}

namespace {
// The listener or receiver whose waiters include `op`: `live` (its fd's), or a retired one
// (the fd was closed).
template <class T>
T* holder_of(T* live, const std::vector<std::unique_ptr<T>>& retired, const io_op& op) noexcept {
    if (live != nullptr && live->waiters.contains(op)) return live;
    for (auto& r : retired)
        if (r->fd == op.fd && r->waiters.contains(op)) return r.get();
    return nullptr;
}
}  // namespace

uring_engine::listener* uring_engine::waited_on(const io_op& op) noexcept {
    return holder_of(find_listener(op.fd), retired_, op);
}

void uring_engine::arm(listener& l) noexcept {
    io_uring_sqe* sqe = get_sqe();
    // No address: one buffer would serve every completion; deliver() asks getpeername.
    io_uring_prep_multishot_accept(sqe, l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&l) | listener_tag);
    l.accepting = listener::multishot::armed;
}

void uring_engine::stop(listener& l) noexcept {
    if (l.accepting != listener::multishot::armed) return;
    l.accepting = listener::multishot::stopping;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&l) | listener_tag, 0);
    io_uring_sqe_set_data64(sqe, 0);
}

// Completes an accept with a connection (or an error) of the multishot: what a one-shot
// accept would have given, peer address included.
void uring_engine::deliver(io_op& op, std::int32_t res) noexcept {
    if (res >= 0) {
        if (op.addr != nullptr && ::getpeername(res, static_cast<sockaddr*>(op.addr), static_cast<socklen_t*>(op.addr2)) != 0)
            *static_cast<socklen_t*>(op.addr2) = 0;  // the peer is gone already: its first read says so
        if (op.flags & SOCK_NONBLOCK) ::fcntl(res, F_SETFL, ::fcntl(res, F_GETFL) | O_NONBLOCK);
    }
    if (op.phase == io_phase::done) {
        op.res = res;  // taken at once in start
    } else {
        finish(op, res);
    }
}

// Out of memory for one more slot: the connection is closed, as a full backlog would drop it.
void uring_engine::push_ready(listener& l, std::int32_t res) noexcept {
    try {
        l.ready.push(res);
    } catch (...) {
        if (res >= 0) ::close(res);
    }
}

void uring_engine::on_listener_cqe(listener& l, const cqe_copy& c) noexcept {
    const bool last = !(c.flags & IORING_CQE_F_MORE);
    if (last) l.accepting = listener::multishot::off;
    if (l.closed) {
        if (c.res >= 0) ::close(c.res);
        return;  // (the next wait() fails its waiters and frees it)
    }
    if (!(last && c.res == -ECANCELED)) {  // (the end of a stop(): no connection, no error)
        if (io_op* op = l.waiters.pop())
            deliver(*op, c.res);  // resumes its coroutine, which may accept again or close l
        else
            push_ready(l, c.res);
    }
    if (l.closed) return;
    if (!l.armed() && !l.waiters.empty()) arm(l);
    if (l.ready.size() >= max_ready) stop(l);
}

int uring_engine::take_accepted(int fd) noexcept {
    listener* l = find_listener(fd);
    if (l == nullptr || !l->waiters.empty()) return -EAGAIN;  // (waiting accepts come first)
    if (l->ready.empty()) {
        // Connections the kernel accepted may sit in the ring, not yet dispatched: one
        // multishot run accepts the whole backlog. With no waiter they go to `ready`.
        reap();
        cqe_copy c;
        while (take_from_backlog(reinterpret_cast<std::uint64_t>(l) | listener_tag, c)) on_listener_cqe(*l, c);
    }
    if (l->ready.empty()) return -EAGAIN;
    return l->ready.pop();
}

// forget_fd: the connections accepted ahead of demand are closed, the multishot cancelled;
// the listener lives on (retired) until its last CQE, which fails the accepts still waiting.
void uring_engine::retire(int fd) noexcept {
    auto it = listeners_.find(fd);
    if (it == listeners_.end()) return;
    std::unique_ptr<listener> l = std::move(it->second);
    listeners_.erase(it);
    l->closed = true;
    while (!l->ready.empty())
        if (std::int32_t r = l->ready.pop(); r >= 0) ::close(r);
    listener& r = *retired_.emplace_back(std::move(l));
    if (r.armed()) {
        io_uring_submit(&ring_);
        cancel_by_data(reinterpret_cast<std::uint64_t>(&r) | listener_tag);
    }
}

// The next wait() after a retired listener's last CQE fails the accepts still waiting on it
// (EBADF, like the other operations of a forgotten fd: at the next iteration) and frees it
// -- never during a dispatch, whose coroutine may be the one that retired it.
bool uring_engine::free_retired() noexcept {
    bool freed = false;
    while (std::unique_ptr<listener> l = take_ended(retired_)) {
        freed = true;
        while (io_op* op = l->waiters.pop()) {
            if (tearing_down_) op->cancel_requested = true;
            finish(*op, -ECANCELED);
        }
    }
    return freed;
}

}  // namespace lwt::detail

// ---------------------------------------------------------------------------------------
// Borrowed receives (recv_chunk): a multishot recv per socket from a provided buffer ring,
// or a poll then the plain recv into a pool buffer. See `receiver` in uring_engine.hpp.

namespace lwt::detail {

void uring_engine::adopt_pool(buffer_pool& pool) {
    pool.on_refill(this, [](void* self) { static_cast<uring_engine*>(self)->refilled(); });
    // The ring of provided buffers (5.19), registered by hand: liburing 2.3 has no
    // io_uring_setup_buf_ring. Multishot recv needs 6.0. Fault injection works on requests,
    // which the multishot path does not have per operation: it takes the plain path.
    if (!kernel_at_least(6, 0) || faults_ != nullptr || std::getenv("LWT_URING_NO_BUF_RING") != nullptr) return;
    const std::uint32_t entries = std::bit_ceil(pool.max_buffers());
    const std::size_t bytes = entries * sizeof(io_uring_buf);
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    io_uring_buf_reg reg;
    std::memset(&reg, 0, sizeof reg);
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(m);
    reg.ring_entries = entries;
    reg.bgid = 0;
    // Incremental consumption (6.12; kernels before refuse the flag with EINVAL). Offsets
    // and the chunks sharing a buffer are counted in 16 bits: buffers under 64 KiB only.
    bool incremental = pool.buffer_size() < 65536 && std::getenv("LWT_URING_NO_INC") == nullptr;
    if (incremental) {
        reg.pad = pbuf_ring_inc;
        if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) incremental = false;
    }
    if (!incremental) {
        reg.pad = 0;
        if (io_uring_register_buf_ring(&ring_, &reg, 0) != 0) {
            ::munmap(m, bytes);
            return;
        }
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(m);
    buf_ring_bytes_ = bytes;
    buf_ring_mask_ = static_cast<std::uint32_t>(io_uring_buf_ring_mask(entries));
    io_uring_buf_ring_init(buf_ring_);
    chunk_multishot_ = true;
    try {
        if (incremental) filled_.assign(pool.max_buffers(), 0);
        incremental_ = incremental;
    } catch (...) {  // (no memory for the offsets: fatal only to the ring, which is gone then)
        io_uring_unregister_buf_ring(&ring_, 0);
        ::munmap(m, bytes);
        buf_ring_ = nullptr;
        chunk_multishot_ = false;
        return;
    }
    if (bundle_feature_) {
        try {
            ring_ids_.assign(entries, 0);
            ring_pos_.assign(std::bit_ceil(pool.max_buffers()), 0);
            bundles_ = true;
        } catch (...) {  // (no memory for the ring's order: one buffer per completion)
        }
    }
    pool.lend_to_ring(this, [](void* self, std::uint16_t id) { static_cast<uring_engine*>(self)->provide(id); });
    pool.grow();  // the first slab, into the ring
}

// A free buffer goes (back) to the kernel's ring. The tail is published with a release
// store (io_uring_buf_ring_advance): the kernel sees the entry before the new tail.
void uring_engine::provide(std::uint16_t id) noexcept {
    io_uring_buf_ring_add(buf_ring_, pool_->data(id), pool_->buffer_size(), id, static_cast<int>(buf_ring_mask_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
    ++in_ring_;
    if (bundles_) {
        const auto pos = static_cast<std::uint16_t>(ring_tail_++ & buf_ring_mask_);
        ring_ids_[pos] = id;
        ring_pos_[id] = pos;
    }
}

// A buffer came back to a pool that ran dry: receivers that starved are armed again (the
// ones with waiters; the others arm on demand), plain-path waits poll again.
void uring_engine::refilled() noexcept {
    pool_->starving = false;
    for (auto& r : receivers_) {
        if (!r || !r->starved) continue;
        r->starved = false;
        if (!r->armed() && !r->waiters.empty()) arm(*r);
    }
    while (io_op* op = chunk_starved_.pop()) {
        link(*op);
        poll_chunk(*op);
    }
}

uring_engine::receiver& uring_engine::receiver_for(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= receivers_.size()) receivers_.resize(std::max(i + 1, 2 * receivers_.size()));
    auto& slot = receivers_[i];
    if (!slot) {
        slot = std::make_unique<receiver>();
        slot->fd = fd;
    }
    return *slot;
}

uring_engine::receiver* uring_engine::receiver_waited_on(const io_op& op) noexcept {
    return holder_of(find_receiver(op.fd), retired_receivers_, op);
}

// A chunk that had arrived (or the receiver's failure) completes the recv_chunk at once --
// unless others wait before it (waiters come first); otherwise it waits for the receiver's
// next CQE. One receiver lookup for both.
bool uring_engine::start_chunk(io_op& op) noexcept {
    if (op.fd < 0) return done_at_once(op, -EBADF);  // a closed file_descr: what the kernel would say
    if (!chunk_multishot_) {
        const std::int32_t res = recv_chunk_now(op);
        if (res != -EAGAIN && res != -ENOBUFS) return done_at_once(op, res);
        return poll_first(op);  // (-ENOBUFS too: the poll's retry waits for a buffer)
    }
    // A test's faults::fail_next (LWT_FAULTS itself keeps to the plain path): the error, as
    // the receive's own. (EINTR and EAGAIN would only be retried.)
    if (LWT_UNLIKELY(faults_ != nullptr) && faults_->targets(op.kind)) {
        const std::int32_t res = faults_->instead_of(op, false);
        if (res != 0 && res != -EINTR && res != -EAGAIN) return done_at_once(op, res);
    }
    receiver* r = find_receiver(op.fd);
    if (r != nullptr && r->waiters.empty()) {
        if (!r->ready.empty()) {
            const piece p = r->ready.pop();
            op.cqe_flags = p.flags;
            op.off = p.off;
            return done_at_once(op, p.res);
        }
        if (r->failed != 0) return done_at_once(op, r->failed);
    }
    if (r == nullptr) {
        try {
            r = &receiver_for(op.fd);
        } catch (...) {  // (no memory for a receiver: this one goes the plain way)
            return poll_first(op);
        }
    }
    op.phase = io_phase::pending;
    ++live_ops_;
    r->waiters.push(op);
    if (!r->armed() && !r->starved) arm(*r);
    return false;
}

// The plain path's attempt: the recv into a pool buffer, without blocking (the fault
// injector's errors and one-byte transfers apply).
std::int32_t uring_engine::recv_chunk_now(io_op& op) noexcept {
    for (;;) {
        std::int32_t r = 0;
        if (LWT_UNLIKELY(faults_ != nullptr)) {
            r = faults_->instead_of(op, true);
            if (r == 0) op.len = faults_->short_len(op);
        }
        if (r == 0) r = perform_now(op);
        if (r != -EINTR) return r;
    }
}

// The plain path's first wait: the op is pending (polling) from here, with a slot. False,
// as start returns it.
bool uring_engine::poll_first(io_op& op) noexcept {
    ++live_ops_;
    link(op);
    poll_chunk(op);
    return false;
}

void uring_engine::poll_chunk(io_op& op) noexcept {
    op.phase = io_phase::polling;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_poll_add(sqe, op.fd, POLLIN);
    io_uring_sqe_set_data64(sqe, data_of(op));
}

// The plain path: the socket is readable (or has an error or its end).
void uring_engine::retry_chunk(io_op& op) noexcept {
    const std::int32_t r = recv_chunk_now(op);
    if (r == -EAGAIN) return poll_chunk(op);
    unlink(op);
    if (r == -ENOBUFS) {  // the pool is at its bound: wait for a buffer to come back
        chunk_starved_.push(op);
        pool_->starving = true;
        return;
    }
    finish(op, r, op.cqe_flags);
}

void uring_engine::arm(receiver& r) noexcept {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv_multishot(sqe, r.fd, nullptr, 0, 0);
    if (bundles_) sqe->ioprio |= recvsend_bundle;
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uint64_t>(&r) | receiver_tag);
    r.receiving = receiver::multishot::armed;
}

void uring_engine::stop(receiver& r) noexcept {
    if (r.receiving != receiver::multishot::armed) return;
    r.receiving = receiver::multishot::stopping;
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uint64_t>(&r) | receiver_tag, 0);
    io_uring_sqe_set_data64(sqe, 0);
}

// Out of memory for one more queued chunk: its buffer goes back, and the stream reports
// ENOMEM from then on (never a silent gap: later pieces go back too, see on_receiver_cqe).
void uring_engine::push_ready(receiver& r, piece p) noexcept {
    try {
        r.ready.push(p);
    } catch (...) {
        pool_->give_back_named(p.flags);
        r.failed = -ENOMEM;
        stop(r);
    }
}

// Where the kernel is in buffer `id` once it has put `n` bytes there from `off` on: it goes
// on filling it (incremental consumption, the CQE says IORING_CQE_F_BUF_MORE: the buffer
// stays in the ring), or it is done with it. The caller has lent `id` to the bytes' chunk.
inline void uring_engine::kernel_filled(std::uint16_t id, std::uint32_t off, std::uint32_t n, bool more) noexcept {
    if (!incremental_) {
        --in_ring_;
    } else if (more) {
        filled_[id] = static_cast<std::uint16_t>(off + n);
        if (off == 0) pool_->kernel_keeps(id);
    } else {
        --in_ring_;
        filled_[id] = 0;
        if (off != 0) pool_->kernel_done(id);  // (free once its chunks are released)
    }
}

// A CQE whose `res` bytes run past the buffer it names: a bundle, into the buffers that
// follow it in the ring (see `piece`). Each becomes a piece in `ready`; then the waiters take
// them, oldest first (each may close the socket: the rest then went back with `ready`).
LWT_COLD void uring_engine::take_bundle(receiver& r, const cqe_copy& c) noexcept {
    const std::uint32_t size = pool_->buffer_size();
    auto id = buffer_id(c.flags);
    std::uint32_t pos = ring_pos_[id];
    ++bundled_receives_;
    for (auto left = static_cast<std::uint32_t>(c.res);;) {
        const std::uint32_t off = incremental_ ? filled_[id] : 0;
        const std::uint32_t n = std::min(left, size - off);
        left -= n;
        pool_->lend(id);
        kernel_filled(id, off, n, left == 0 && (c.flags & cqe_f_buf_more));
        if (r.closed || r.failed != 0)  // (after a lost chunk, no later byte may be given)
            pool_->give_back(id);
        else
            push_ready(r, {static_cast<std::int32_t>(n), buffer_flags(id), off});
        if (left == 0) break;
        pos = (pos + 1) & buf_ring_mask_;
        id = ring_ids_[pos];
    }
    while (!r.closed && !r.ready.empty()) {
        io_op* op = r.waiters.pop();
        if (op == nullptr) break;
        const piece p = r.ready.pop();
        op->off = p.off;
        finish(*op, p.res, p.flags);
    }
}

LWT_INLINE void uring_engine::on_receiver_cqe(receiver& r, const cqe_copy& c) noexcept {
    const bool last = !(c.flags & IORING_CQE_F_MORE);
    if (last) r.receiving = receiver::multishot::off;
    if ((c.flags & IORING_CQE_F_BUFFER) && c.res > 0) {
        const std::uint16_t id = buffer_id(c.flags);
        const std::uint32_t off = incremental_ ? filled_[id] : 0;
        const auto n = static_cast<std::uint32_t>(c.res);
        if (LWT_LIKELY(n <= pool_->buffer_size() - off)) {  // one buffer (else a bundle)
            pool_->lend(id);
            kernel_filled(id, off, n, (c.flags & cqe_f_buf_more) != 0);
            const std::uint32_t flags = buffer_flags(id);
            if (LWT_UNLIKELY(r.closed || r.failed != 0)) {  // (after a lost chunk, no later byte may be given)
                pool_->give_back(id);
            } else if (io_op* op = r.waiters.pop()) {
                op->off = off;
                finish(*op, c.res, flags);  // resumes its coroutine, which may receive again or close
            } else {
                push_ready(r, {c.res, flags, off});
            }
        } else {
            take_bundle(r, c);
        }
        // Running low: one more slab, before the ring runs dry (within the pool's bound).
        if (in_ring_ < pool_->capacity() / 4) pool_->grow();
    } else {
        // No bytes. A buffer it names was consumed (it goes back to the ring) -- unless the
        // ring is consumed incrementally: then the kernel has not moved past it.
        if ((c.flags & IORING_CQE_F_BUFFER) && !incremental_) {
            const std::uint16_t id = buffer_id(c.flags);
            --in_ring_;
            pool_->lend(id);
            pool_->give_back(id);
        }
        if (r.closed) return;  // (the next wait() fails its waiters and frees it)
        if (c.res == -ENOBUFS) {
            // The ring ran dry, which ended the multishot; the bytes wait in the kernel.
            // Buffers given back since (by the coroutines earlier completions resumed) are in
            // the ring again: re-arm at once. Else grow, or wait for a give_back (refilled()).
            if (in_ring_ == 0 && !pool_->grow()) {
                r.starved = true;
                pool_->starving = true;
                return;
            }
        } else if (!(last && c.res == -ECANCELED)) {  // (the end of a stop(): no bytes, no error)
            if (io_op* op = r.waiters.pop())
                finish(*op, c.res);
            else
                push_ready(r, {c.res, 0, 0});
        }
    }
    if (r.closed) return;
    if (!r.armed() && !r.waiters.empty() && !r.starved) arm(r);
    if (r.ready.size() >= max_ready_chunks) stop(r);
}

// forget_fd: the chunks nobody took go back, the multishot is cancelled; the receiver lives
// on (retired) until its last CQE, which fails the waits still pending.
void uring_engine::retire_receiver(int fd) noexcept {
    if (find_receiver(fd) == nullptr) return;
    std::unique_ptr<receiver> r = std::move(receivers_[static_cast<std::size_t>(fd)]);
    r->closed = true;
    while (!r->ready.empty()) {
        pool_->give_back_named(r->ready.pop().flags);
    }
    receiver& kept = *retired_receivers_.emplace_back(std::move(r));
    if (kept.armed()) {
        io_uring_submit(&ring_);
        cancel_by_data(reinterpret_cast<std::uint64_t>(&kept) | receiver_tag);
    }
}

// As free_retired, for receivers: never during a dispatch.
bool uring_engine::free_retired_receivers() noexcept {
    bool freed = false;
    while (std::unique_ptr<receiver> r = take_ended(retired_receivers_)) {
        freed = true;
        // Their descriptor was closed under them: EBADF, as for any operation on it.
        while (io_op* op = r->waiters.pop()) {
            if (tearing_down_) op->cancel_requested = true;
            finish(*op, tearing_down_ ? -ECANCELED : -EBADF);
        }
    }
    return freed;
}

}  // namespace lwt::detail
