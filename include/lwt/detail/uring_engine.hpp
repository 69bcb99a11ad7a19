// The io_uring proactor (private to the library: users reach it through lwt::engine).
// See the reading guide in engine.hpp.
#pragma once

#include <lwt/detail/engine.hpp>

#include <liburing.h>

#include <bitset>
#include <memory>
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
    bool try_now(io_op& op) noexcept override;
    void submit(io_op& op) noexcept override;
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
    void to_kernel(io_op& op) noexcept;
    bool to_kernel_faulty(io_op& op) noexcept;
    void prep_short(io_uring_sqe* sqe, const io_op& op) noexcept;
    void arm_wake() noexcept;
    void reap() noexcept;                       // moves the ready CQEs to backlog_
    void dispatch(const cqe_copy& c) noexcept;  // one completion
    std::int32_t cancelled(io_op& op) noexcept;  // the result of one dropped unperformed
    bool take_from_backlog(std::uint64_t data, cqe_copy& out) noexcept;
    void link(io_op& op) noexcept;    // gives op a slot
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

    // A FIFO of accepted descriptors on a ring that only grows (a deque would allocate as
    // its elements move along): no allocation per connection in the steady state.
    class fifo {
    public:
        bool empty() const noexcept { return count_ == 0; }
        std::size_t size() const noexcept { return count_; }
        void push(std::int32_t v) {
            if (count_ == slots_.size()) grow();
            slots_[(head_ + count_++) % slots_.size()] = v;
        }
        std::int32_t pop() noexcept {
            std::int32_t v = slots_[head_];
            head_ = (head_ + 1) % slots_.size();
            --count_;
            return v;
        }

    private:
        void grow() {
            std::vector<std::int32_t> bigger(slots_.empty() ? 16 : 2 * slots_.size());
            for (std::size_t i = 0; i < count_; ++i) bigger[i] = slots_[(head_ + i) % slots_.size()];
            slots_ = std::move(bigger);
            head_ = 0;
        }
        std::vector<std::int32_t> slots_;
        std::size_t head_ = 0;
        std::size_t count_ = 0;
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
        fifo ready;                      // accepted fds (or -errno) that nobody took yet
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
    void submit_accept(io_op& op) noexcept;
    bool free_retired() noexcept;

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
