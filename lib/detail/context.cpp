// The per-thread context: queue growth and draining, stack bounds, the block pool.
#include <lwt/detail/context.hpp>
#include <lwt/detail/state.hpp>

#include <pthread.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

namespace lwt::detail {

constinit LWT_TLS thread_context ctx{};

namespace {

// Frees what the thread's context owns when the thread exits. Registered lazily, the first
// time something is kept (a queue buffer, a pooled block), so the context itself stays POD.
struct context_guard {
    ~context_guard() {
        reap_abandoned();
        if (ctx.ready_void != nullptr) release(std::exchange(ctx.ready_void, nullptr));
        std::free(ctx.queue);
        ctx.queue = nullptr;
        ctx.q_head = ctx.q_tail = ctx.q_mask = 0;
        for (std::size_t c = 0; c < pool_classes; ++c) {
            void* p = ctx.pool[c];
            while (p != nullptr) {
                void* next = *static_cast<void**>(p);
                std::free(p);
                p = next;
            }
            ctx.pool[c] = nullptr;
            ctx.pool_room[c] = 0;  // later frees go straight to the heap
        }
        ctx.guard = 2;
    }
};

// Registers the guard on first use; false once the thread is exiting.
bool ensure_guard() {
    if (ctx.guard == 0) {
        ctx.guard = 1;
        static thread_local context_guard guard;
        (void)guard;
        for (std::size_t c = 0; c < pool_classes; ++c) ctx.pool_room[c] = pool_keep;
    }
    return ctx.guard == 1;
}

}  // namespace

void ensure_context_guard() { ensure_guard(); }

void grow_queue() {
    ensure_guard();
    std::size_t cap = ctx.queue == nullptr ? 64 : (ctx.q_mask + 1) * 2;
    auto* q = static_cast<job*>(std::malloc(cap * sizeof(job)));
    if (q == nullptr) throw std::bad_alloc();
    std::size_t n = ctx.q_tail - ctx.q_head;
    for (std::size_t i = 0; i < n; ++i) q[i] = ctx.queue[(ctx.q_head + i) & ctx.q_mask];
    std::free(ctx.queue);
    ctx.queue = q;
    ctx.q_head = 0;
    ctx.q_tail = n;
    ctx.q_mask = cap - 1;
}

void drain_queue() noexcept {
    // Jobs run as nested callbacks (depth >= 1), so a wakeup_later inside one is queued
    // behind the others (FIFO), and under the trampoline, so coroutines they start do not try
    // to drain the queue themselves.
    ++ctx.depth;
    bool own = !ctx.trampoline;
    ctx.trampoline = true;
    while (ctx.q_head != ctx.q_tail) {
        job j = ctx.queue[ctx.q_head++ & ctx.q_mask];
        j.fn(j.arg);
    }
    ctx.q_head = ctx.q_tail = 0;
    if (own) ctx.trampoline = false;
    --ctx.depth;
}

void init_stack_guard() noexcept {
    // Work that would nest further is deferred once less than `reserve` bytes of stack are
    // left. The reserve is a quarter of the stack, at least 32 KiB and at most 256 KiB: on the
    // 8 MiB main stack that leaves over 7 MiB of nesting, on a 256 KiB thread stack 192 KiB
    // (hundreds of nested continuations, far beyond the bound of 100 that docs/semantics.md rule 3 asks for).
    pthread_attr_t attr;
    void* addr = nullptr;
    std::size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &addr, &size);
        pthread_attr_destroy(&attr);
    }
    if (addr == nullptr || size == 0) {
        // Unknown stack: measure from here, assuming 256 KiB below us.
        char* here = static_cast<char*>(__builtin_frame_address(0));
        ctx.stack_guard = here - (192u << 10);
        return;
    }
    std::size_t reserve = size / 4;
    if (reserve < (32u << 10)) reserve = 32u << 10;
    if (reserve > (256u << 10)) reserve = 256u << 10;
    ctx.stack_guard = static_cast<char*>(addr) + reserve;
}

void* pool_alloc_slow(std::size_t n) {
    // Blocks of one class all have the class's size, whichever request created them. malloc,
    // not operator new: a program counting its operator new calls sees pool blocks only once,
    // through ctx.allocations.
    std::size_t c = (n + pool_granule - 1) / pool_granule;
    void* p = std::malloc(c < pool_classes ? c * pool_granule : n);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

void pool_free_slow(void* p, std::size_t n) noexcept {
#if !LWT_ASAN
    std::size_t c = (n + pool_granule - 1) / pool_granule;
    if (c < pool_classes && ctx.guard == 0 && ensure_guard()) {
        *static_cast<void**>(p) = ctx.pool[c];
        ctx.pool[c] = p;
        --ctx.pool_room[c];
        return;
    }
#endif
    (void)n;
    std::free(p);
}

}  // namespace lwt::detail
