// A loop's receive buffers (issue 15: buffers belong to data in flight, not to connections).
//
// A receive that borrows (unix_::recv_chunk, the input channels of sockets) gives no buffer
// to the kernel while it waits: the io_uring engine lends the pool's free buffers to the
// kernel as a provided buffer ring, from which a multishot recv takes one only when bytes
// arrive; the epoll engine (and io_uring without buffer rings) takes one from the free list
// only once the socket is readable, and gives it back at once if the recv finds nothing.
// The bytes then travel in a unix_::chunk, which gives the buffer back when released.
//
// Life of a buffer: free (in the free list, or in the kernel's ring) -> lent (to chunks, or
// completions not yet given to anyone) -> free. `outstanding` counts the lent ones.
//
// Shared buffers. With io_uring's incremental consumption (6.12) the kernel fills a buffer
// of the ring a receive at a time, from any socket, so one buffer holds the bytes of many
// chunks. A buffer is then free again once no chunk holds it (`holds_`) and the kernel has
// stopped filling it (`kept_`: the one buffer it is part-way through, the ring's head, which
// is in the ring, not lent). Elsewhere a buffer has one holder at a time.
//
// Bounds. The pool starts with one slab of `slab_buffers` buffers and grows a slab at a time
// (when the free list is empty, or the ring runs low) up to `max_buffers`; memory of a slab is
// mapped when it is added and touched only where the kernel writes, and stays mapped until
// the pool is destroyed. At the bound a receive waits for a buffer to come back (the bytes
// stay in the socket's kernel buffer, and TCP's flow control holds the peer back).
//
// Threads and lifetime. A pool belongs to one loop's engine (rule 13): buffers are taken and
// given back on that loop's thread only. A chunk may outlive the engine (kept in a global,
// or released during teardown): the engine then retires the pool, which is deleted by the
// last give_back (or at once when nothing is lent).
#pragma once

#include <lwt/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lwt::detail {

// IORING_CQE_F_BUFFER and IORING_CQE_BUFFER_SHIFT: how a completion names the buffer it
// filled. The epoll engine and the plain path fill an io_op's cqe_flags the same way.
inline constexpr std::uint32_t cqe_f_buffer = 1u << 0;
inline constexpr std::uint32_t cqe_buffer_shift = 16;
// The cqe_flags that name buffer `id`, and the buffer that flags with cqe_f_buffer name
// (a kernel CQE's flags too).
constexpr std::uint32_t buffer_flags(std::uint16_t id) noexcept {
    return cqe_f_buffer | (static_cast<std::uint32_t>(id) << cqe_buffer_shift);
}
constexpr std::uint16_t buffer_id(std::uint32_t flags) noexcept { return static_cast<std::uint16_t>(flags >> cqe_buffer_shift); }

class LWT_EXPORT buffer_pool {
public:
    // Buffer ids fit io_uring's 16-bit buffer id; a provided ring holds at most 32768.
    static constexpr std::uint32_t id_limit = 32768;

    buffer_pool(std::uint32_t buffer_size, std::uint32_t slab_buffers, std::uint32_t max_buffers);
    buffer_pool(const buffer_pool&) = delete;
    buffer_pool& operator=(const buffer_pool&) = delete;
    ~buffer_pool();

    std::uint32_t buffer_size() const noexcept { return size_; }
    std::uint32_t capacity() const noexcept { return count_; }         // buffers made so far
    std::uint32_t max_buffers() const noexcept { return max_; }
    std::uint32_t outstanding() const noexcept { return outstanding_; }  // lent
    char* data(std::uint16_t id) const noexcept {
        return slabs_[id >> slab_shift_] + static_cast<std::size_t>(id & slab_mask_) * size_;
    }

    // ---- the free list (epoll, and io_uring without a buffer ring) ----
    // A free buffer, lent from now on; -1 at the bound (or out of memory).
    int take() noexcept;

    // ---- a provided buffer ring (io_uring) ----
    // From now on free buffers go to `provide(ctx, id)` (the engine adds them to its ring)
    // instead of the free list; the ones free now are provided at once.
    void lend_to_ring(void* ctx, void (*provide)(void*, std::uint16_t)) noexcept;
    // A chunk (or a completion nobody took yet) holds bytes of buffer `id` (lent from now on).
    void lend(std::uint16_t id) noexcept {
        if (holds_[id]++ == 0) ++outstanding_;
    }
    // The kernel fills `id` part-way and goes on with it (it stays in the ring), or it has
    // finished with the buffer it kept (free once no chunk holds it).
    void kernel_keeps(std::uint16_t id) noexcept { kept_ = id; }
    void kernel_done(std::uint16_t id) noexcept {
        kept_ = -1;
        if (holds_[id] == 0) make_free(id);
    }
    // Adds a slab (its buffers go to the free list or the ring); false at the bound.
    bool grow() noexcept;

    // Called when a buffer comes back while `starving` is set (a receive waits for one);
    // the engine clears `starving` as it re-arms its receives.
    void on_refill(void* ctx, void (*refilled)(void*)) noexcept {
        refill_ctx_ = ctx;
        refilled_ = refilled;
    }
    bool starving = false;

    // A holder of a lent buffer lets it go (a chunk released, or a completion nobody took).
    void give_back(std::uint16_t id) noexcept {
        if (--holds_[id] != 0) return;
        --outstanding_;
        if (LWT_UNLIKELY(retired_)) {
            if (outstanding_ == 0) delete this;
            return;
        }
        if (LWT_UNLIKELY(id == kept_)) return;  // (still in the ring: the kernel fills the rest)
        make_free(id);
    }

    // give_back of the buffer `cqe_flags` name, if they name one.
    void give_back_named(std::uint32_t cqe_flags) noexcept {
        if (cqe_flags & cqe_f_buffer) give_back(buffer_id(cqe_flags));
    }

    // The engine is going away: deleted now if nothing is lent, else by the last give_back.
    // No ring, no callback is used after this.
    static void retire(buffer_pool* p) noexcept;

private:
    void make_free(std::uint16_t id) noexcept {
        if (provide_ != nullptr)
            provide_(provide_ctx_, id);
        else
            free_.push_back(id);  // (reserved: never allocates)
        if (LWT_UNLIKELY(starving) && refilled_ != nullptr) refilled_(refill_ctx_);
    }

    std::uint32_t size_;
    std::uint32_t slab_shift_;
    std::uint32_t slab_mask_;
    std::uint32_t max_;
    std::uint32_t count_ = 0;
    std::uint32_t outstanding_ = 0;
    bool retired_ = false;
    std::vector<char*> slabs_;
    std::vector<std::uint16_t> free_;
    std::vector<std::uint16_t> holds_;  // by id: the chunks (and queued completions) holding it
    int kept_ = -1;                     // the buffer the kernel is part-way through, or -1
    void* provide_ctx_ = nullptr;
    void (*provide_)(void*, std::uint16_t) = nullptr;
    void* refill_ctx_ = nullptr;
    void (*refilled_)(void*) = nullptr;
};

}  // namespace lwt::detail
