// The shared cell behind every promise: its states, its waiters, how it settles, how it is
// released and how cancellation walks through it.
//
// Reading guide
// -------------
// States. A `cell_base` is pending, fulfilled or rejected (docs/semantics.md rule 1) and never goes back.
// `refs` counts the handles (promise<T>, resolver<T>), the running coroutine that owns the
// cell (until it reaches its final suspension) and every waiter-owning object that needs the
// cell to stay valid (combinator slots, the operand of a co_await). Single-threaded: plain
// integers, no atomics (rule 13).
//
// Waiters. A `waiter` is an intrusive node on the cell's circular, doubly linked list: a
// suspended coroutine's awaiter (inside its frame), a callback node, a combinator slot. When
// the cell settles, `settle` pops and fires them one at a time (so a waiter may unlink another
// while they run) -- inside the resolving call, or deferred to the trampoline's queue when the
// resolution is nested and asked for `wakeup_later`, or when the stack runs low (rules 3, 4).
// `fire(w, nullptr)` disposes of a waiter whose cell is destroyed while it is still linked
// (only callback nodes can be: every other waiter's owner holds a reference).
//
// Release. The last `release` destroys the cell through `destroy_fn` (delete, or destroying
// the coroutine frame that embeds it). Destruction runs user destructors that may release
// further cells; those are queued on `ctx.release_list` and destroyed by the outermost
// release in a loop, so dropping a million-long chain does not recurse (rule 4).
//
// Cancellation (rule 6), in three phases (cancel_walk::run). 0: walk backwards without
// running any user code: each `cancelable` forwards to what it waits on (a coroutine to the
// cell or operation it is suspended on, a combinator to its pending inputs) or records itself
// as a leaf. 1: every leaf that is a cell (a task, a pause, a sleep) is rejected with
// lwt::canceled at once, before any waiter runs (as in Lwt). 2: in order, those rejections
// flow forward (waiters run, on_cancel callbacks first) and the leaves that are not cells
// (I/O in flight) are asked to cancel -- holding a reference, so the graph may change freely
// meanwhile. The walk uses an explicit work list, so its depth is not bounded by the C++
// stack.
#pragma once

#include <lwt/detail/context.hpp>

#include <cstdint>
#include <exception>
#include <string>
#include <new>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace lwt {

// The promise states of rule 1. Named `state` as in the API; inside classes that have a
// member `state()`, spell it `lwt::state`.
enum class state : std::uint8_t { pending, fulfilled, rejected };

// Lwt.Canceled. A type derived from it counts as cancellation too.
struct LWT_EXPORT canceled : std::exception {
    const char* what() const noexcept override;
};

}  // namespace lwt

namespace lwt::detail {

struct cell_base;
struct cancel_walk;

// Something `cancel` can walk through or stop at. `cancel_fn` null: cancellation stops here.
struct cancelable {
    // Called during the walk: add targets with w.visit(...) or record a leaf with w.leaf(...).
    // `owner` is a cell that keeps `this` alive when `this` is not itself a cell (an I/O
    // operation inside a coroutine frame).
    void (*cancel_fn)(cancelable* self, cancel_walk& w, cell_base* owner) = nullptr;
};

// The fields are left uninitialised by the default constructor: an awaiter is built on every
// co_await, usually of a settled promise, and only links itself (setting every field) when
// it suspends. `next` is null exactly while the waiter is not linked, once it was linked or
// value-initialised.
struct waiter {
    waiter* next;
    waiter* prev;
    // Fired once when the cell settles (s is the cell) or disposed (s == nullptr) when the cell
    // is destroyed with the waiter still linked. Never throws.
    void (*fire)(waiter* self, cell_base* s) noexcept;
    bool on_cancel;  // an on_cancel callback: fired before the others

    waiter() noexcept = default;
    explicit waiter(void (*f)(waiter*, cell_base*) noexcept, bool cancel_only = false) noexcept
        : next(nullptr), prev(nullptr), fire(f), on_cancel(cancel_only) {}
};

LWT_EXPORT bool is_canceled_exception(const std::exception_ptr& e) noexcept;
// Hands an exception from fire-and-forget code to lwt::async_exception_hook (rule 5).
LWT_EXPORT void call_async_exception_hook(std::exception_ptr e) noexcept;
[[noreturn]] LWT_EXPORT void throw_resolved_twice();
[[noreturn]] LWT_EXPORT void throw_not_settled();

struct cell_base : cancelable {
    void (*destroy_fn)(cell_base*) noexcept = nullptr;
    union {
        waiter* head;               // while the cell lives: its waiters (null: none)
        cell_base* next_release;  // while queued for destruction
    };
    std::uint32_t refs = 1;
    lwt::state st = lwt::state::pending;
    bool canceled = false;         // rejected with lwt::canceled (or a derived type)
    bool has_on_cancel = false;    // an on_cancel waiter was linked
    // What made the cell, for the description of a wait (describe_awaited); in the padding
    // before `exc`, so no cell grows.
    enum class made_by : std::uint8_t { other, coroutine, wait, task, timer, combinator, queue, operation } maker = made_by::other;
    std::exception_ptr exc;        // set when rejected

    cell_base() noexcept : head(nullptr) {}
    cell_base(const cell_base&) = delete;
    cell_base& operator=(const cell_base&) = delete;

    bool pending() const noexcept { return st == lwt::state::pending; }

    void link(waiter* w) noexcept {  // FIFO: new waiters go last
        if (head == nullptr) {
            w->next = w->prev = w;
            head = w;
        } else {
            w->next = head;
            w->prev = head->prev;
            head->prev->next = w;
            head->prev = w;
        }
        if (w->on_cancel) has_on_cancel = true;
    }
    void unlink(waiter* w) noexcept {
        if (w->next == w) {
            head = nullptr;
        } else {
            w->prev->next = w->next;
            w->next->prev = w->prev;
            if (head == w) head = w->next;
        }
        w->next = w->prev = nullptr;
    }
    bool linked(const waiter* w) const noexcept { return w->next != nullptr; }

    // Rejection bookkeeping shared by every way of rejecting. Returns false when the cell was
    // already rejected with lwt::canceled (later resolutions are ignored, rule 1).
    bool begin_resolve() const {
        if (LWT_LIKELY(st == lwt::state::pending)) return true;
        if (canceled) return false;
        throw_resolved_twice();
    }
    void set_rejected(std::exception_ptr e, bool is_cancel) noexcept {
        exc = std::move(e);
        canceled = is_cancel;
        st = lwt::state::rejected;
    }
    void set_rejected(std::exception_ptr e) noexcept {
        bool c = is_canceled_exception(e);
        set_rejected(std::move(e), c);
    }
    void rethrow_if_rejected() const {
        if (st == lwt::state::rejected) std::rethrow_exception(exc);
    }
    void check_settled() const {
        if (st == lwt::state::pending) throw_not_settled();
    }
};

// The cell of a promise<T>. The value lives in a union so that a pending or rejected cell
// constructs no T (T need not be default-constructible).
template <class T>
struct cell : cell_base {
    union {
        T value;
    };
    cell() noexcept {}
    ~cell() {
        if (st == lwt::state::fulfilled) value.~T();
    }
    template <class... A>
    void set_value(A&&... a) {
        ::new (static_cast<void*>(std::addressof(value))) T(std::forward<A>(a)...);
        st = lwt::state::fulfilled;
    }
};

template <>
struct cell<void> : cell_base {
    void set_value() noexcept { st = lwt::state::fulfilled; }
};

// ---------------------------------------------------------------------------------------
// Release.

LWT_EXPORT void destroy_state_slow(cell_base* s) noexcept;
LWT_EXPORT void destroy_released() noexcept;

LWT_INLINE void destroy_state(cell_base* s) noexcept {
    if (LWT_LIKELY(s->head == nullptr && !ctx.destroying)) {
        ctx.destroying = true;
        s->destroy_fn(s);
        ctx.destroying = false;
        if (LWT_UNLIKELY(ctx.release_list != nullptr)) destroy_released();
        return;
    }
    destroy_state_slow(s);
}

LWT_INLINE void retain(cell_base* s) noexcept { ++s->refs; }
LWT_INLINE void release(cell_base* s) noexcept {
    if (--s->refs == 0) destroy_state(s);
}

// ---------------------------------------------------------------------------------------
// Settling: running the waiters.

LWT_EXPORT void run_waiters(cell_base* s) noexcept;   // caller holds a reference
LWT_EXPORT void settle_slow(cell_base* s, bool later) noexcept;

// Runs (or defers) the waiters of a cell that has just settled. `later`: Lwt's
// wakeup_later (deferred when nested); otherwise Lwt's wakeup (immediate unless the stack
// is low).
LWT_INLINE void settle(cell_base* s, bool later) noexcept {
    if (s->head != nullptr) settle_slow(s, later);
}

// Rejects a pending cell with lwt::canceled and runs its waiters at once (the leaf action of
// a cancellation).
LWT_EXPORT void reject_canceled(cell_base* s) noexcept;

// ---------------------------------------------------------------------------------------
// Cancellation walk.

struct cancel_walk {
    struct leaf_t {
        cancelable* c;
        cell_base* keep;  // retained until the leaf has been cancelled
        void (*act)(cancelable*) noexcept;
    };
    static constexpr std::size_t inline_n = 8;

    cancel_walk() = default;
    cancel_walk(const cancel_walk&) = delete;
    cancel_walk& operator=(const cancel_walk&) = delete;
    ~cancel_walk();

    // Each node is walked once, so a graph with a cycle (a coroutine awaiting its own promise,
    // a bind chain that ends up following itself) or a diamond ends (the cycle's cells stay
    // pending, as in Lwt).
    void visit(cancelable* c, cell_base* owner) {
        if (todo_n_ != 0 && seen_before(c)) return;
        push(todo_, todo_n_, todo_cap_, todo_in_, {c, owner, nullptr});
    }
    void leaf(cancelable* c, cell_base* keep, void (*act)(cancelable*) noexcept) {
        retain(keep);
        push(leaves_, leaves_n_, leaves_cap_, leaves_in_, {c, keep, act});
    }
    LWT_EXPORT void run(cancelable* root, cell_base* owner);
    // Set by describe_awaited, which only reads what cancel_fns reach (the walk is not run):
    // a cancel_fn that acts by itself (a cross-loop call's cancel message) must not then.
    bool describing = false;
    // What a cancel_fn reached, for describe_awaited.
    std::size_t reached_count() const noexcept { return todo_n_ + leaves_n_; }
    cancelable* reached(std::size_t i) const noexcept { return i < todo_n_ ? todo_[i].c : leaves_[i - todo_n_].c; }

private:
    struct seen_set;
    // Whether c was visited already. Up to `scan_n` nodes a scan of todo_ answers (the common
    // walk is a handful of nodes and allocates nothing); past that a hash set of every node
    // visited does, so a million-long chain stays O(1) per node.
    static constexpr std::size_t scan_n = 16;
    LWT_EXPORT bool seen_before(cancelable* c);
    LWT_EXPORT static void grow(leaf_t*& v, std::size_t n, std::size_t& cap, leaf_t* in);
    static void push(leaf_t*& v, std::size_t& n, std::size_t& cap, leaf_t* in, leaf_t x) {
        if (n == cap) grow(v, n, cap, in);
        v[n++] = x;
    }
    leaf_t todo_in_[inline_n];
    leaf_t leaves_in_[inline_n];
    leaf_t* todo_ = todo_in_;
    leaf_t* leaves_ = leaves_in_;
    std::size_t todo_n_ = 0, todo_cap_ = inline_n;
    std::size_t leaves_n_ = 0, leaves_cap_ = inline_n;
    seen_set* seen_ = nullptr;
};

LWT_EXPORT void cancel(cell_base* s);

// What a pending cell waits on, as an indented tree, one line per node, through the edges
// cancel follows (a coroutine to what it awaits, a combinator to its inputs, a converted
// operation to its I/O): the coroutines (named by their code), the I/O operations (kind and
// descriptor), sleeps, and the promises only a resolver can settle. For rule 16's error.
LWT_EXPORT std::string describe_awaited(cell_base* root);

// Abandoned cells: a wait()/task() cell still pending when its last resolver is destroyed can
// only be settled by cancel. Coroutines suspended on it would be unreachable cycles (their
// frames hold the promise, the promise their waiters): the thread keeps such cells on a
// list -- which stays reachable, and is pruned of cells nobody else holds -- and at its exit
// rejects those still pending with lwt::canceled, so that their coroutines unwind and free
// their frames (engine teardown frees every frame).
LWT_EXPORT void abandon(cell_base* s);
LWT_EXPORT void reap_abandoned() noexcept;
LWT_EXPORT std::size_t abandoned_count() noexcept;

// The cancel behaviour of a task-like cell: a leaf rejected with lwt::canceled.
LWT_EXPORT void cancel_as_leaf(cancelable* self, cancel_walk& w, cell_base* owner);

// ---------------------------------------------------------------------------------------
// Free-standing cells (wait, task, return_, fail, combinator results).

template <class T>
struct heap_state final : cell<T>, pooled {
    std::uint32_t resolvers = 0;  // resolver handles (wait/task cells)

    explicit heap_state(bool cancelable_leaf) noexcept {
        this->destroy_fn = [](cell_base* s) noexcept { delete static_cast<heap_state*>(s); };
        if (cancelable_leaf) this->cancel_fn = &cancel_as_leaf;
        this->maker = cancelable_leaf ? cell_base::made_by::task : cell_base::made_by::wait;
    }
};

}  // namespace lwt::detail
