// The engine (detail::io_engine): one per thread, it completes I/O, fires timers and receives
// wake-ups from other threads. Two implementations share this interface: a proactor over
// io_uring (uring_engine.hpp) and a reactor over epoll (epoll_engine.hpp). Neither knows the
// unix_ layer: what each I/O kind is -- its io_uring opcode and SQE fields, its readiness,
// the plain system call -- they read from the io_kinds table (io_op.hpp).
//
// Reading guide
// -------------
// Operations. An `io_op` describes one system call and carries its result; its life (idle ->
// pending [-> polling] -> done), who may write which field in which phase and what
// relocation requires are the numbered rules at the top of io_op.hpp. It lives inside the
// frame of the coroutine that awaits it -- in a `unix_::operation`, which starts it at the
// call, or in an `io_awaiter` inside a library coroutine -- so there is no allocation per
// operation.
//
// Who resumes a coroutine. Only `io_op::complete`, called by the engine on the loop thread
// when the result is known: it clears the coroutine's `awaiting`, makes the coroutine's keys
// current and resumes it. The engine calls it from `iterate` (a kernel completion or a
// readiness event), or from `cancel`.
//
// From kernel completion to resumption (io_uring): the loop calls iterate(); one kernel
// entry (uring_engine::enter, or io_uring_submit_and_wait_timeout under a timer) submits the
// iteration's SQEs and waits; each CQE's user_data names the operation's slot, whose entry
// is the io_op (a slot, not the address, so that an operation can move while in flight:
// relocate); the engine stores cqe->res and calls complete(op), which resumes the frame
// (op.coro: its keys, its cancel slot). What the frame does next (more SQEs) is submitted
// once more in the same iteration, without waiting, and what that completed at once (a
// socket send) is dispatched there too; what is queued after that goes into the next
// iteration's submission. epoll: the fd's readiness event retries the parked operations'
// system calls, then completes them.
// Accepts on io_uring (5.19+) are the one exception to "one SQE per operation": a listening
// socket has one multishot accept, whose connections go to the oldest waiting accept or wait
// (at most 64) for the next one -- see uring_engine.hpp.
// Borrowed receives (unix_::recv_chunk, and so a socket's io input channel) are the other
// one: no buffer until bytes arrive. io_uring: one multishot recv per socket, taking buffers
// from a provided buffer ring the pool lends to the kernel; epoll (and io_uring's plain path):
// the recv is made once the socket is readable, into a buffer taken from the pool for that
// attempt only. Either way the completion names the buffer in cqe_flags, and a unix_::chunk
// gives it back when released. The pool (buffer_pool.hpp) is the engine's, made on first use.
//
// Cancellation (docs/semantics.md rule 7; io_op rule 7). `lwt::cancel` reaches a pending op
// through the coroutine's `awaiting` pointer. cancel() is synchronous: when it returns, the
// operation has completed and the kernel no longer touches its buffers (io_uring: flush,
// synchronous cancel, reap the op's CQE; epoll: unpark). If the kernel finished first, its result wins and is delivered;
// a result that must not leak (an accepted or opened fd) is closed by the awaiter.
//
// Other threads. Worker jobs, notifications, signal handlers and the other loops of
// loops::run reach the loop through its inbox (post/push + wake): a lock-free LIFO taken
// whole by run_inbox on the loop thread. The wake-up is the eventfd, or, from one io_uring
// loop to another, a ring message (send_ring_wake: IORING_OP_MSG_RING). See cross_loop.hpp.
//
// Teardown. Destroying an engine cancels every pending operation (each completes with
// ECANCELED and its coroutine resumes; a close completes, performed by the engine if the
// kernel had not started it), rejects pending sleeps with lwt::canceled, waits for the
// kernel's last completions and only then unmaps the ring.
#pragma once

#include <lwt/detail/buffer_pool.hpp>
#include <lwt/detail/coroutine.hpp>
#include <lwt/detail/faults.hpp>
#include <lwt/detail/io_op.hpp>
#include <lwt/detail/state.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace lwt::detail {

// A timer: the cell of a sleep() promise, in the engine's heap until it fires or is
// cancelled (then removed at once).
struct timer_node final : cell<void>, pooled {
    std::int64_t deadline = 0;  // CLOCK_MONOTONIC, nanoseconds
    std::uint32_t index = 0;    // position in the heap, or npos when not in it
    void* engine = nullptr;
    static constexpr std::uint32_t npos = ~std::uint32_t{0};
};

// Work handed to the loop from another thread (a finished worker job, a notification, a
// request from run_in_main). `run` is called on the loop thread.
struct inbox_item {
    inbox_item* next = nullptr;
    void (*run)(inbox_item*) noexcept = nullptr;
};

LWT_EXPORT std::int64_t monotonic_ns() noexcept;

// Called on the sending thread when the kernel refused a ring message sent by
// send_ring_wake(fd, token) (the loops module falls back to the target's eventfd). Null: ignored.
LWT_EXPORT extern void (*ring_wake_failed)(std::uint32_t token) noexcept;

// Runs f when this thread exits, before its engine is destroyed; hooks run LIFO.
LWT_EXPORT void register_exit_hook(std::function<void()> f);
// Does now what the thread's exit would: runs the exit hooks, then destroys the engine
// (a loop thread of loops::run ends its engine while it is still known as a loop).
LWT_EXPORT void end_thread_engine() noexcept;

// The stall warning (lib/detail/stall.cpp): an iteration that ran busy_ns, and its longest
// step (the completion of a `kind` operation on `fd`, which resumed the coroutine whose
// resume function is `code`).
LWT_EXPORT void report_stall(std::int64_t busy_ns, std::int64_t threshold_ns, std::int64_t step_ns, const char* kind,
                             int fd, const void* code) noexcept;
// A function's name (demangled), or "<file>+<offset>" where its symbol is not exported.
LWT_EXPORT std::string name_of_code(const void* fn);

class io_engine;
// Registers a function called at the start of every engine's teardown (on its thread), to
// drop what other modules keep about it (signal handlers, notifications). Process-wide.
LWT_EXPORT void add_engine_teardown_hook(void (*hook)(io_engine*));

class LWT_EXPORT io_engine {
public:
    virtual ~io_engine();

    // The engine of this thread, created on first use (LWT_ENGINE=uring|epoll selects one;
    // otherwise io_uring, falling back to epoll when it cannot be set up).
    static io_engine& current() {
        if (LWT_LIKELY(ctx.engine != nullptr)) return *static_cast<io_engine*>(ctx.engine);
        return create();
    }
    static io_engine* current_if_any() noexcept { return static_cast<io_engine*>(ctx.engine); }

    virtual const char* id() const noexcept = 0;
    // Whether descriptors created for this engine should be O_NONBLOCK (epoll: yes).
    virtual bool wants_nonblocking() const noexcept = 0;

    // Starts idle `op` (io_op rule 3), in one call: the data path pays one virtual call per
    // operation. True: it completed at once (epoll: a non-blocking attempt succeeded; io_uring:
    // a chunk that had arrived, a connection accepted ahead) -- op.res holds the result, op is
    // done and complete will not be called. False: op is pending, and complete(op) will be
    // called from iterate() or cancel(), never from inside start.
    virtual bool start(io_op& op) noexcept = 0;
    // Cancels a pending op synchronously: complete(op) has run when this returns.
    virtual void cancel(io_op& op) noexcept = 0;
    // Moves pending `from` to `to` (whose request fields the caller has copied, pointers
    // into `from`'s owner re-aimed at `to`'s). True: `to` is pending in `from`'s place, even
    // in the kernel, and `from` is idle. False only where the kernel will still use memory
    // next to `from` (io_uring: a one-shot accept's peer address, a recvmsg's header, a
    // statx buffer, once the kernel has taken the SQE): cancel it to take it back.
    virtual bool relocate(io_op& from, io_op& to) noexcept = 0;
    // Forgets everything about `fd` before it is closed; pending operations on it fail with
    // EBADF (epoll: before this returns; io_uring: at the next iteration, once the kernel has
    // let go of them). Connections accepted ahead on it are closed.
    virtual void forget_fd(int fd) noexcept = 0;
    // A connection the engine accepted on listening socket `fd` ahead of demand, if it holds
    // one (io_uring's multishot accept); -EAGAIN otherwise. Used by accept_n after its first
    // connection, before it asks the kernel's backlog.
    virtual int take_accepted(int /*fd*/) noexcept { return -EAGAIN; }

    // One loop iteration's I/O: submits what is queued, waits until something completes or
    // `timeout_ns` passes (-1: no limit, 0: do not block), runs the completions and the
    // expired timers. Returns after one wait. (Inline, as is has_pending_work: the loop's
    // every turn.)
    inline void iterate(std::int64_t timeout_ns);

    // Whether something could still complete: operations in flight, timers, jobs on worker
    // threads, signal handlers, notifications (rule 16).
    inline bool has_pending_work() const noexcept;

    // ---- timers (user space: one kernel timeout per iteration) ----
    void add_timer(timer_node* t);
    void remove_timer(timer_node* t) noexcept;
    std::size_t timer_count() const noexcept { return timers_.size(); }

    // ---- wake-ups from other threads (thread-safe) ----
    // Queues `item` and wakes the loop (run_inbox runs it on the loop thread).
    void post(inbox_item* item) noexcept {
        if (push(item)) wake();
    }
    // Queues `item` without waking the loop; true when the inbox was empty, so that the
    // caller must wake it (by wake(), or by a ring message: see send_ring_wake). Later
    // pushes of the same burst find it non-empty: one wake-up per burst.
    bool push(inbox_item* item) noexcept;
    // Wakes a wait() in progress on the loop thread (from any thread).
    virtual void wake() noexcept = 0;
    // Runs, in posting order, what other threads have posted (on the loop thread).
    void run_inbox() noexcept;
    // The eventfd that wake() writes.
    int wake_fd() const noexcept { return wake_fd_; }
    // io_uring only: the ring's descriptor, to which other rings can send IORING_OP_MSG_RING
    // (-1: none), and whether this engine can send such messages (probed: 5.18).
    virtual int ring_fd() const noexcept { return -1; }
    virtual bool sends_ring_messages() const noexcept { return false; }
    // Queues, with this iteration's submissions, a message that completes on the ring
    // `target_ring_fd` (whose engine then runs its inbox): a wake-up that costs the target
    // no eventfd read and no re-armed poll, and the sender no system call of its own. If the
    // kernel refuses it, ring_wake_failed(token) is called on this thread. On this engine's
    // thread only.
    virtual void send_ring_wake(int /*target_ring_fd*/, std::uint32_t /*token*/) noexcept {}
    // Hands what is queued for submission to the kernel now (io_uring), so that ring
    // messages leave before a loop stops iterating.
    virtual void flush_submissions() noexcept {}

    // This loop's receive buffers (buffer_pool.hpp), made on first use: LWT_RECV_BUFFERS
    // buffers at most (4096), of LWT_RECV_BUFFER_SIZE bytes (16384).
    buffer_pool& buffers() {
        if (LWT_LIKELY(pool_ != nullptr)) return *pool_;
        return make_pool();
    }

    // Counters.
    std::size_t live_operations() const noexcept { return live_ops_; }
    std::size_t buffers_lent() const noexcept { return pool_ == nullptr ? 0 : pool_->outstanding(); }
    // Receives into the pool that take several buffers per completion (io_uring bundles), and
    // how many completions did.
    virtual bool receives_bundled() const noexcept { return false; }
    std::size_t bundled_receives() const noexcept { return bundled_receives_; }
    // Whether several receives fill one buffer (io_uring's incremental consumption).
    virtual bool receive_buffers_shared() const noexcept { return false; }
    // This engine's fault injector (faults.hpp), created on first use for a test's
    // fail_next; LWT_FAULTS creates it with the engine.
    fault_injector& faults();
    // ---- metrics (lwt::main::stats) ----
    // Counted always (an increment each); the iteration's duration only while a stall
    // threshold is set or the thread traces (two clock reads per iteration and per completion).
    struct metrics {
        std::uint64_t iterations = 0;       // iterate() calls: one kernel wait each (wait())
        std::uint64_t submitted = 0;        // io_uring: SQEs handed over; epoll: operations parked or sent to the worker pool
        std::uint64_t completions = 0;      // operations completed (each resumes its waiter)
        std::int64_t longest_iteration_ns = 0;  // the longest busy part of an iteration (timed only)
        std::uint64_t stalls = 0;           // iterations whose busy part passed the threshold
    };
    const metrics& counters() const noexcept { return metrics_; }
    // An iteration busier than `ns` (> 0) prints a warning on stderr naming its longest step
    // (the operation whose completion ran longest, and the coroutine it resumed); 0: off.
    // LWT_STALL_MS sets it when the engine is made.
    void set_stall_threshold(std::int64_t ns) noexcept;
    std::int64_t stall_threshold() const noexcept { return stall_ns_; }
    // Whether iterations are timed (a stall threshold, or a trace).
    bool timed() const noexcept { return watched_; }
    // The busy part of an iteration ends (iterate() calls it; so does a run that returns
    // without iterating again).
    void end_iteration() noexcept {
        if (LWT_UNLIKELY(woke_at_ != 0)) end_busy_part();
    }

    // Signal handlers and notifications that keep the loop alive (changed from any thread).
    std::atomic<std::size_t> external_sources{0};
    std::atomic<std::size_t> jobs_outstanding{0};  // worker jobs that will post back here

protected:
    io_engine();
    static io_engine& create();
    // Waits for completions; returns after running them. `timeout_ns` as for iterate.
    virtual void wait(std::int64_t timeout_ns) = 0;
    // Cancels everything still pending; called from the derived destructor.
    void shutdown() noexcept;
    virtual void cancel_all() noexcept = 0;

    // Runs a completion as an outermost resolution (what it defers is drained before the
    // next completion). Inlined: it is the path from every completion to its coroutine.
    inline void finish(io_op& op, std::int32_t res, std::uint32_t cqe_flags = 0) noexcept;
    // Called by wait() when its kernel call returns: the iteration's busy part starts.
    void woke(std::uint64_t submitted) noexcept {
        metrics_.submitted += submitted;
        if (LWT_UNLIKELY(watched_)) woke_at_ = monotonic_ns();
    }
    metrics metrics_;
    void fire_timers() noexcept;
    std::int64_t next_timer_deadline() const noexcept { return timers_.empty() ? -1 : timers_[0].deadline; }

    // The engine's part in its new pool (io_uring: lends it to the kernel as a buffer ring;
    // both: re-arm starved receives when a buffer comes back).
    virtual void adopt_pool(buffer_pool& pool) = 0;

    std::size_t live_ops_ = 0;
    std::size_t bundled_receives_ = 0;
    int wake_fd_ = -1;  // eventfd: other threads' wake-ups
    // Made by buffers(); retired (buffer_pool::retire) when the engine goes: chunks may
    // outlive it.
    buffer_pool* pool_ = nullptr;
    // Null unless faults are injected: the engines' only cost when they are not.
    std::unique_ptr<fault_injector> faults_;

private:
    struct timer_slot {
        std::int64_t deadline;  // kept in the heap: comparisons never touch the nodes
        timer_node* node;
    };
    void place(std::uint32_t i, timer_slot s) noexcept {
        timers_[i] = s;
        s.node->index = i;
    }
    buffer_pool& make_pool();
    void watched_complete(io_op& op) noexcept;
    void end_busy_part() noexcept;
    // Stall detection (timed iterations): the threshold, when the kernel call returned, and
    // the longest completion of the iteration so far.
    std::int64_t stall_ns_ = 0;
    // A stall threshold is set, or this thread traces (LWT_TRACE): completions and
    // iterations take the timed, traced path. The one flag the plain path tests.
    bool watched_ = false;
    std::int64_t woke_at_ = 0;
    struct step {
        std::int64_t ns = 0;
        const char* kind = nullptr;
        int fd = -1;
        const void* resumed = nullptr;  // the resume function of the coroutine that awaited the op
    } step_;
    void sift_up(std::uint32_t i) noexcept;
    void sift_down(std::uint32_t i) noexcept;
    void fire_one(timer_node* t) noexcept;
    void fire_batch(std::int64_t now) noexcept;

    // 4-ary min-heap on deadline; the four children of a slot share one cache line.
    std::vector<timer_slot> timers_;
    std::atomic<inbox_item*> inbox_{nullptr};
};

// What co_await of an io_awaiter gives: the raw result (>= 0 or -errno), whether lwt::cancel
// reached the operation, and io_uring's completion flags.
struct io_result {
    std::int32_t res;
    bool canceled;
    std::uint32_t flags;
};

LWT_INLINE void io_engine::iterate(std::int64_t timeout_ns) {
    ++metrics_.iterations;
    end_iteration();
    std::int64_t t = timeout_ns;
    if (!timers_.empty() && t != 0) {
        std::int64_t d = timers_[0].deadline - monotonic_ns();
        if (d < 0) d = 0;
        if (t < 0 || d < t) t = d;
    }
    wait(t);
    if (!timers_.empty()) fire_timers();
}

LWT_INLINE bool io_engine::has_pending_work() const noexcept {
    return live_ops_ > 0 || !timers_.empty() || external_sources.load(std::memory_order_acquire) > 0 ||
           jobs_outstanding.load(std::memory_order_acquire) > 0 ||
           inbox_.load(std::memory_order_acquire) != nullptr;
}

// resume_awaiter's body: the awaiting coroutine's `awaiting` is cleared, its keys made
// current, and it resumes (`op` may be gone after this).
LWT_INLINE void resume_awaiting(io_op& op) noexcept {
    coro_info* c = op.coro;
    c->awaiting = nullptr;
    keys_scope k(c->keys);
    std::coroutine_handle<>::from_address(op.frame).resume();
}

// Each completion is a resolution of its own when it runs from the loop: what it defers runs
// before the next completion. From inside cancel() it nests in the caller's resolution.
LWT_INLINE void io_engine::finish(io_op& op, std::int32_t res, std::uint32_t cqe_flags) noexcept {
    if (LWT_UNLIKELY(faults_ != nullptr)) faults_->settling(op);
    op.res = res;
    op.cqe_flags = cqe_flags;
    op.phase = io_phase::done;
    --live_ops_;
    ++metrics_.completions;
    if (LWT_UNLIKELY(watched_)) return watched_complete(op);
    resolution_scope scope;
    // (An awaited operation -- the common case -- resumes here, without the indirect call.)
    if (LWT_LIKELY(op.complete == &resume_awaiter))
        resume_awaiting(op);
    else
        op.complete(&op);
}

// co_await io_awaiter{...}: starts the operation, suspends until it completes, gives its
// io_result. Inside lwt coroutines only (the operation is cancelable through the coroutine).
// Read the outcome from the io_result, not from the awaiter: g++ 12 awaits a copy of an
// lvalue awaiter.
struct io_awaiter {
    using lwt_native_awaiter = void;  // passed through await_transform unchanged
    io_op op;

    bool await_ready() noexcept { return false; }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) noexcept {
        // Until the suspension, a completion only records its result: the drain below may
        // cancel the operation through `awaiting`.
        op.complete = &note_done;
        if (io_engine::current().start(op)) return false;  // done at once
        auto& p = h.promise();
        op.coro = &p;
        p.awaiting = &op;
        p.suspending();
        if (LWT_UNLIKELY(op.phase == io_phase::done)) {  // cancelled by the drain
            p.awaiting = nullptr;
            return false;
        }
        op.frame = h.address();
        op.complete = &resume_awaiter;
        return true;
    }
    io_result await_resume() noexcept { return {op.res, op.cancel_requested, op.cqe_flags}; }
};

}  // namespace lwt::detail
