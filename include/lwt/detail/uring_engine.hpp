// The io_uring proactor (private to the library: users reach it through lwt::engine).
// See the reading guide in engine.hpp.
#pragma once

#include <lwt/detail/engine.hpp>

#include <liburing.h>

#include <bitset>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace lwt::detail {

// prep_sqe() stores a poll mask in the flags word as it is, as liburing does on little-endian
// machines only.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the io_uring engine assumes a little-endian machine");

// The SQE of an operation, field by field from its request (see io_kinds): what liburing's
// io_uring_prep_* call for its kind would write (tests/test_io_kinds.cpp compares them).
inline void prep_sqe(io_uring_sqe* sqe, const io_op& op) noexcept {
    const io_kind_traits& k = op.traits();
    io_uring_prep_rw(k.uring_opcode, sqe, op.fd, op.addr, op.len,
                     k.addr2_in_off ? reinterpret_cast<std::uintptr_t>(op.addr2) : op.off);
    // The per-opcode flags word (msg_flags, accept_flags, open_flags, poll32_events...: one
    // union; poll32_events is stored as is on a little-endian machine).
    sqe->rw_flags = static_cast<__kernel_rwf_t>(op.flags | k.forced_flags);
}

class uring_engine final : public io_engine {
public:
    // The engine, or null with the reason in `why` when io_uring cannot be set up (disabled
    // by sysctl, refused by a seccomp filter, missing from an old kernel).
    static std::unique_ptr<io_engine> create(std::string& why);
    ~uring_engine() override;

    const char* id() const noexcept override { return "uring"; }
    bool wants_nonblocking() const noexcept override { return false; }
    bool start(io_op& op) noexcept override;
    void cancel(io_op& op) noexcept override;
    bool relocate(io_op& from, io_op& to) noexcept override;
    void forget_fd(int fd) noexcept override;
    int take_accepted(int fd) noexcept override;
    int ring_fd() const noexcept override { return ring_.ring_fd; }
    bool sends_ring_messages() const noexcept override { return msg_ring_; }
    void send_ring_wake(int target_ring_fd, std::uint32_t token) noexcept override;
    void flush_submissions() noexcept override { io_uring_submit(&ring_); }

protected:
    void wait(std::int64_t timeout_ns) override;
    void wake() noexcept override;
    void cancel_all() noexcept override;

private:
    struct cqe_copy {
        std::uint64_t data;
        std::int32_t res;
        std::uint32_t flags;
    };

    uring_engine() = default;
    io_uring_sqe* get_sqe() noexcept;
    io_uring_sqe* get_sqe_slow() noexcept;  // the SQ is full
    void queue(io_op& op) noexcept;      // one SQE of its own: pending, with a slot
    bool start_special(io_op& op) noexcept;  // the kinds that are not one SQE each
    void to_kernel(io_op& op) noexcept;
    bool to_kernel_faulty(io_op& op) noexcept;
    void prep_short(io_uring_sqe* sqe, const io_op& op) noexcept;
    void arm_wake() noexcept;
    void reap() noexcept;                       // moves the ready CQEs to backlog_
    int enter(unsigned wait_nr) noexcept;         // submits what is queued, runs task work
    void dispatch(const cqe_copy& c) noexcept;  // one completion
    void dispatch_completions() noexcept;        // the backlog's, then the ring's, until none
    std::int32_t cancelled(io_op& op) noexcept;  // the result of one dropped unperformed
    bool take_from_backlog(std::uint64_t data, cqe_copy& out) noexcept;
    void link(io_op& op) noexcept;    // gives op a slot
    std::uint32_t new_slot() noexcept;  // ... when none is free
    void unlink(io_op& op) noexcept;  // frees its slot
    io_op* op_at(std::uint64_t data) const noexcept {
        return reinterpret_cast<io_op*>(slots_[(data >> 3) & slot_mask]);
    }
    // Calls f(op) for every operation in flight (f must not link or unlink).
    template <class F>
    void for_each_pending(F f) noexcept {
        for (std::uintptr_t v : slots_)
            if (!(v & 1)) f(*reinterpret_cast<io_op*>(v));
    }
    void cancel_by_data(std::uint64_t data) noexcept;

    // A FIFO (of accepted descriptors, of received chunks) on a ring that only grows (a
    // deque would allocate as its elements move along): no allocation per item in the
    // steady state. 16 bytes: every connection's receiver holds one, mostly empty.
    template <class T>
    class fifo {
    public:
        bool empty() const noexcept { return count_ == 0; }
        std::size_t size() const noexcept { return count_; }
        void push(T v) {
            if (count_ == cap_) grow();
            slots_[(head_ + count_++) % cap_] = v;
        }
        T pop() noexcept {
            T v = slots_[head_];
            head_ = (head_ + 1) % cap_;
            --count_;
            return v;
        }

    private:
        void grow() {
            const std::uint16_t cap = cap_ == 0 ? 4 : static_cast<std::uint16_t>(2 * cap_);
            if (cap <= cap_) throw std::length_error("lwt: a receive queue of 32,768 entries");
            std::unique_ptr<T[]> bigger(new T[cap]);
            for (std::size_t i = 0; i < count_; ++i) bigger[i] = slots_[(head_ + i) % cap_];
            slots_ = std::move(bigger);
            cap_ = cap;
            head_ = 0;
        }
        std::unique_ptr<T[]> slots_;
        std::uint16_t cap_ = 0;
        std::uint16_t head_ = 0;
        std::uint16_t count_ = 0;
    };

    // Accepts go through one multishot accept per listening socket (kernel 5.19): a single
    // SQE keeps accepting, and each connection goes to the oldest waiting accept, or waits in
    // `ready` for the next one (at most max_ready; past that the multishot is cancelled, so
    // that a server that stops accepting leaves connections in the kernel's backlog, and it
    // is armed again on demand). Waiters are linked by their next/prev and have no slot.
    // A listener outlives its fd's forget_fd (in retired_) until its last CQE (no
    // IORING_CQE_F_MORE) has been dispatched; the next wait() frees it.
    struct listener {
        int fd = -1;
        // Its multishot accept: none in the kernel, in the kernel, or in the kernel and asked to
        // stop (until its last CQE).
        enum class multishot : std::uint8_t { off, armed, stopping } accepting = multishot::off;
        bool armed() const noexcept { return accepting != multishot::off; }
        bool closed = false;      // its fd was forgotten
        fifo<std::int32_t> ready;        // accepted fds (or -errno) that nobody took yet
        op_queue waiters;                // waiting accepts, oldest first
    };
    static constexpr std::size_t max_ready = 64;
    listener& listener_for(int fd);
    listener* find_listener(int fd) noexcept;
    listener* waited_on(const io_op& op) noexcept;
    void arm(listener& l) noexcept;
    void stop(listener& l) noexcept;
    void deliver(io_op& op, std::int32_t res) noexcept;
    void on_listener_cqe(listener& l, const cqe_copy& c) noexcept;
    void push_ready(listener& l, std::int32_t res) noexcept;
    void retire(int fd) noexcept;
    bool try_accept_now(io_op& op) noexcept;
    void wait_accept(io_op& op) noexcept;
    bool free_retired() noexcept;
    // The first retired listener or receiver whose multishot has ended (its last CQE came),
    // taken out of the list; null if none. One at a time and with no allocation: the
    // waiters it fails may retire more, and a loop in its steady state allocates nothing.
    template <class H>
    static std::unique_ptr<H> take_ended(std::vector<std::unique_ptr<H>>& retired) noexcept {
        for (auto it = retired.begin(); it != retired.end(); ++it)
            if (!(*it)->armed()) {
                std::unique_ptr<H> h = std::move(*it);
                retired.erase(it);
                return h;
            }
        return nullptr;
    }

    // Borrowed receives (recv_chunk; buffer_pool.hpp). With a provided buffer ring (5.19)
    // and multishot recv (6.0): one multishot recv per socket, its `receiver`, armed while
    // somebody waits; each CQE names the buffer the kernel took from the ring only when
    // bytes arrived. A chunk that arrives with nobody waiting waits in `ready` (at most
    // max_ready_chunks: past that the multishot is stopped, so that a socket nobody reads
    // holds a few buffers and leaves the rest in the kernel's socket buffer), and the next
    // recv_chunk takes it at once. Order is the stream's: one multishot per socket, its CQEs
    // in order, waiters served oldest first. An empty ring ends the multishot with ENOBUFS:
    // the pool grows (to its bound), or the receiver starves until a buffer comes back
    // (refilled) -- no byte is lost, they wait in the kernel. A cancelled waiter leaves its
    // chunk to the next one. forget_fd gives back what `ready` holds and stops the
    // multishot; the receiver lives on (retired) until its last CQE, and its waiters then
    // fail with EBADF. Waiters have no slot (like a listener's).
    // Bundles (6.10, IORING_FEAT_RECVSEND_BUNDLE): one CQE may fill several buffers, which
    // the kernel takes from the ring's head in ring order; the CQE names the first. The
    // engine keeps the ring's order (`ring_ids_`, and each id's position in `ring_pos_`), so
    // the others are the ids that follow the first there.
    // Incremental consumption (6.12, IOU_PBUF_RING_INC): the kernel fills the ring's head
    // buffer a receive at a time, from whichever socket receives, and moves on when it is
    // full; IORING_CQE_F_BUF_MORE says it is not yet. `filled_` is how far it has got in each
    // buffer, so a CQE's bytes start there. Chunks then share buffers (buffer_pool.hpp).
    // Either way a CQE becomes `piece`s, one per buffer it touched, in order: a lone piece
    // goes to the oldest waiter, or to `ready`; several go to `ready` (past max_ready_chunks
    // if need be), then to the waiters.
    // Without a buffer ring or multishot recv (older kernels, LWT_URING_NO_BUF_RING, fault
    // injection): a poll for readiness, then the plain recv into a pool buffer (as epoll);
    // one that finds the pool empty waits in `chunk_starved_` until a buffer comes back.
    struct piece {
        std::int32_t res;     // bytes, or -errno
        std::uint32_t flags;  // buffer_flags(id), if it holds bytes
        std::uint32_t off;    // where they start in the buffer
    };
    struct receiver {
        int fd = -1;
        enum class multishot : std::uint8_t { off, armed, stopping } receiving = multishot::off;
        bool armed() const noexcept { return receiving != multishot::off; }
        bool closed = false;   // its fd was forgotten
        bool starved = false;  // the ring ran dry: re-armed when a buffer comes back
        std::int32_t failed = 0;  // -ENOMEM: a chunk could not be queued (its bytes are lost)
        fifo<piece> ready;          // received, nobody took them yet
        op_queue waiters;           // waiting recv_chunks, oldest first
    };
    static constexpr std::size_t max_ready_chunks = 8;
    void adopt_pool(buffer_pool& pool) override;
    bool start_chunk(io_op& op) noexcept;
    std::int32_t recv_chunk_now(io_op& op) noexcept;  // the plain path's attempt
    bool poll_first(io_op& op) noexcept;               // ... makes it pending, polling
    void poll_chunk(io_op& op) noexcept;               // ... waits for readiness
    void retry_chunk(io_op& op) noexcept;              // ... ready: attempt again
    receiver* find_receiver(int fd) const noexcept {
        auto i = static_cast<std::size_t>(fd);
        return i < receivers_.size() ? receivers_[i].get() : nullptr;
    }
    receiver& receiver_for(int fd);
    receiver* receiver_waited_on(const io_op& op) noexcept;
    void arm(receiver& r) noexcept;
    void stop(receiver& r) noexcept;
    void on_receiver_cqe(receiver& r, const cqe_copy& c) noexcept;
    void push_ready(receiver& r, piece p) noexcept;
    void take_bundle(receiver& r, const cqe_copy& c) noexcept;
    void kernel_filled(std::uint16_t id, std::uint32_t off, std::uint32_t n, bool more) noexcept;
    void retire_receiver(int fd) noexcept;
    bool free_retired_receivers() noexcept;
    void refilled() noexcept;
    void provide(std::uint16_t id) noexcept;
    bool registered_ring_ = false;     // enter through the ring's registered index
    bool chunk_multishot_ = false;     // the multishot path above is in use
    io_uring_buf_ring* buf_ring_ = nullptr;  // the provided buffer ring (group 0), mmap'ed
    std::size_t buf_ring_bytes_ = 0;
    std::uint32_t buf_ring_mask_ = 0;
    std::uint32_t in_ring_ = 0;        // buffers the kernel may take
    bool bundle_feature_ = false;      // the kernel bundles receives (and LWT_URING_NO_BUNDLE is unset)
    bool bundles_ = false;             // ... and the receivers ask for it
    bool incremental_ = false;         // the ring is consumed incrementally
    std::vector<std::uint16_t> filled_;    // incremental: bytes the kernel has filled, by id
    std::uint32_t ring_tail_ = 0;      // bundles: buffers added to the ring so far
    std::vector<std::uint16_t> ring_ids_;  // bundles: the id at each ring position
    std::vector<std::uint16_t> ring_pos_;  // bundles: each id's ring position (while in the ring)
    bool receives_bundled() const noexcept override { return bundles_; }
    bool receive_buffers_shared() const noexcept override { return incremental_; }
    std::vector<std::unique_ptr<receiver>> receivers_;  // by fd
    std::vector<std::unique_ptr<receiver>> retired_receivers_;
    op_queue chunk_starved_;           // plain path: waiting for a buffer

    io_uring ring_{};
    bool ring_ok_ = false;
    bool sync_cancel_ = false;      // IORING_REGISTER_SYNC_CANCEL (6.0)
    bool msg_ring_ = false;         // IORING_OP_MSG_RING (5.18)
    bool cqe_skip_ = false;         // IOSQE_CQE_SKIP_SUCCESS (5.17)
    bool tearing_down_ = false;
    std::bitset<static_cast<std::size_t>(io_kind::count_)> native_;  // kinds the kernel has
    io_op wake_op_;                 // a POLL_ADD on the eventfd, re-armed after each wake-up
    // Every operation in flight has a slot, and the kernel knows it by its slot (user_data:
    // tag << 32 | slot << 3 | slot_tag | retry_tag), not by its address, so that an operation
    // can move while in flight (relocate): only its slot changes. The tag counts the slot's
    // uses, so that a cancel still queued for an operation that has finished cannot reach
    // the next user of its slot. A slot holds the io_op's address (even), or,
    // when free, the next free slot (next << 1 | 1): the free list costs no memory of its
    // own. The table only grows.
    std::vector<std::uintptr_t> slots_;
    std::uint32_t free_slot_ = no_slot;
    std::uint32_t next_tag_ = 0;
    static constexpr std::uint32_t no_slot = ~std::uint32_t{0};
    static constexpr std::uint64_t slot_mask = (std::uint64_t{1} << 29) - 1;
    std::vector<cqe_copy> backlog_; // reaped, not yet dispatched
    std::size_t backlog_pos_ = 0;
    bool multishot_accept_ = false;  // the kernel has IORING_ACCEPT_MULTISHOT (5.19)
    std::unordered_map<int, std::unique_ptr<listener>> listeners_;
    std::vector<std::unique_ptr<listener>> retired_;  // forgotten, until their last CQE
};

}  // namespace lwt::detail
