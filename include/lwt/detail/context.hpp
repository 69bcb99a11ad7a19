// The per-thread context of the core: the trampoline that keeps synchronous continuations
// from growing the stack without bound, the deferred-job queue, the current key values,
// the iterative destruction list and the small-block pool for frames and states.
//
// Reading guide
// -------------
// Everything here is thread-local and touched only by its own thread (docs/semantics.md rule 13), so no
// field needs atomics. The context is constant-initialised POD: inline code in user programs
// reaches it with one %fs-relative load (no TLS wrapper call); what needs a destructor (the
// queue's buffer, the pool's blocks) is released by a separate guard registered on first use.
//
// Nesting and deferral. `depth` counts resolutions whose waiters are running on this stack
// (Lwt's callback nesting depth). A `wakeup_later` while depth > 0 queues its waiters here;
// the outermost resolution drains the queue before it returns (rule 3). Independently of
// depth, any point that would nest further (starting a coroutine, running waiters) checks how
// much stack is left and, past a reserve, queues the work instead (rule 4: no overflow). The
// queue is drained by whoever owns the trampoline: the outermost resolution, the outermost
// coroutine call (at its first suspension or completion) or the main loop.
#pragma once

#include <lwt/detail/config.hpp>

#include <cstddef>
#include <cstdint>
#include <new>

namespace lwt::detail {

struct key_frame;
struct cell_base;
struct pause_link;

// A deferred unit of work. `fn` never throws (callbacks route their exceptions to the async
// exception hook before they get here).
struct job {
    void (*fn)(void*) noexcept;
    void* arg;
};

inline constexpr std::size_t pool_granule = 16;
inline constexpr std::size_t pool_classes = 64;  // blocks of 16 .. 1008 bytes
inline constexpr std::uint32_t pool_keep = 2048;  // free blocks kept per class

struct thread_context {
    // ---- trampoline ----
    unsigned depth;           // resolutions running waiters on this stack
    bool trampoline;          // someone below on the stack drains `queue` before returning
    bool destroying;          // a state is being destroyed: further releases are queued
    job* queue;               // ring buffer, capacity a power of two
    std::size_t q_head, q_tail, q_mask;
    char* stack_guard;        // below this address the stack is considered low
    // ---- keys (rule 10): the values seen by the running code ----
    key_frame* keys;
    // ---- iterative release (rule 4) ----
    cell_base* release_list;
    // ---- pause() promises waiting for the next loop iteration ----
    pause_link* pause_head;
    pause_link* pause_tail;
    std::size_t paused;
    // ---- small-block pool ----
    void* pool[pool_classes];
    std::uint32_t pool_room[pool_classes];  // free blocks class c may still keep; 0 until
                                            // the thread-exit guard is registered
    std::uint64_t allocations;  // blocks handed out (pool hits included), for benchmarks
    std::uint8_t guard;       // 0: no thread-exit guard yet, 1: registered, 2: thread exiting
    // ---- the engine of this thread (created by io_engine::current() on first use) ----
    void* engine;
    // ---- a fulfilled promise<void> cell shared by every return_() of this thread ----
    cell_base* ready_void;
    // ---- what this thread records for lwt::main::dump and LWT_TRACE (trace.hpp): tracing
    // bits; 0 (the rule) costs one test per coroutine made ----
    std::uint8_t tracing;
};

LWT_EXPORT extern constinit LWT_TLS thread_context ctx;

// ---- deferred jobs ----
LWT_EXPORT void grow_queue();
LWT_EXPORT void drain_queue() noexcept;
LWT_EXPORT void init_stack_guard() noexcept;
// Registers the thread-exit guard that frees the queue and the pool (idempotent).
LWT_EXPORT void ensure_context_guard();

LWT_INLINE bool queue_empty() noexcept { return ctx.q_head == ctx.q_tail; }

inline void defer(void (*fn)(void*) noexcept, void* arg) {
    if (LWT_UNLIKELY(ctx.q_tail - ctx.q_head > ctx.q_mask || ctx.queue == nullptr)) grow_queue();
    ctx.queue[ctx.q_tail++ & ctx.q_mask] = job{fn, arg};
}

// True when the stack is too deep to nest one more synchronous continuation.
LWT_INLINE bool stack_low() noexcept {
    if (LWT_UNLIKELY(ctx.stack_guard == nullptr)) init_stack_guard();
    char* sp = static_cast<char*>(__builtin_frame_address(0));
    return sp < ctx.stack_guard;
}

// Becomes the trampoline's owner if nobody is; returns whether it did. The owner drains the
// queue (release_trampoline) before control leaves lwt++ code.
LWT_INLINE bool acquire_trampoline() noexcept {
    if (ctx.trampoline) return false;
    ctx.trampoline = true;
    return true;
}

LWT_INLINE void release_trampoline() noexcept {
    if (LWT_UNLIKELY(!queue_empty())) drain_queue();
    ctx.trampoline = false;
}

// The scope of one resolution: waiters run inside it see depth > 0 (so a wakeup_later is
// queued), coroutines started inside it do not own the trampoline, and the outermost one
// drains the queue before it ends (rule 3).
struct resolution_scope {
    unsigned outer;
    bool own;
    LWT_INLINE resolution_scope() noexcept : outer(ctx.depth++), own(acquire_trampoline()) {}
    resolution_scope(const resolution_scope&) = delete;
    resolution_scope& operator=(const resolution_scope&) = delete;
    LWT_INLINE ~resolution_scope() {
        if (outer == 0 && !queue_empty()) drain_queue();
        if (own) ctx.trampoline = false;
        --ctx.depth;
    }
};

// ---- small-block pool ----
// Coroutine frames and promise states are allocated here: a freed block is kept on a
// per-thread, per-size free list so that the next allocation of that size is a pop. Blocks
// freed on another thread simply join that thread's lists. Under AddressSanitizer the pool is
// bypassed so that use-after-free stays detectable.
LWT_EXPORT void* pool_alloc_slow(std::size_t n);
LWT_EXPORT void pool_free_slow(void* p, std::size_t n) noexcept;

LWT_INLINE void* pool_alloc(std::size_t n) {
    ++ctx.allocations;
#if !LWT_ASAN
    std::size_t c = (n + pool_granule - 1) / pool_granule;
    if (LWT_LIKELY(c < pool_classes)) {
        void* p = ctx.pool[c];
        if (LWT_LIKELY(p != nullptr)) {
            ctx.pool[c] = *static_cast<void**>(p);
            ++ctx.pool_room[c];
            return p;
        }
    }
#endif
    return pool_alloc_slow(n);
}

LWT_INLINE void pool_free(void* p, std::size_t n) noexcept {
#if !LWT_ASAN
    std::size_t c = (n + pool_granule - 1) / pool_granule;
    if (LWT_LIKELY(c < pool_classes && ctx.pool_room[c] != 0)) {
        *static_cast<void**>(p) = ctx.pool[c];
        ctx.pool[c] = p;
        --ctx.pool_room[c];
        return;
    }
#endif
    pool_free_slow(p, n);
}

// Mixin giving a class pool-backed operator new/delete.
struct pooled {
    static void* operator new(std::size_t n) { return pool_alloc(n); }
    static void operator delete(void* p, std::size_t n) noexcept { pool_free(p, n); }
};


}  // namespace lwt::detail
