// Coroutines returning lwt::promise<T>: the frame embeds the promise cell.
//
// Reading guide
// -------------
// Life of a coroutine frame. `coro_state<T>` is the C++ promise_type *and* the lwt cell: one
// allocation (from the thread's block pool) holds the cell, the key values the coroutine
// sees, and what it is suspended on. `refs` starts at 1 for the running coroutine itself;
// get_return_object adds the handle returned to the caller. At the final suspension the
// coroutine settles the cell (running its waiters) and drops its own reference; the frame is
// destroyed when the last handle goes, so a finished coroutine's value stays readable.
//
// Who resumes a coroutine. Nobody but a waiter: `co_await p` on a pending p links a
// `coro_awaiter` (inside the frame) on p's cell; when p settles, `settle` fires it, which
// makes the coroutine's keys current and calls resume() -- synchronously, inside the
// resolution (docs/semantics.md rule 3). Awaiting a settled promise does not suspend (rule 2).
//
// Eager start and the trampoline. initial_suspend does not suspend: the body runs at once
// (rule 2). The first coroutine called from plain code becomes the trampoline's owner: until
// it suspends or finishes, work deferred because the stack ran low (coroutine starts, waiters)
// is drained by it -- at each co_await and at its end -- so a million-deep chain of eager calls
// completes without the stack growing past the reserve (rule 4). A start is deferred only
// when the stack is low and someone below will drain.
//
// Cancellation. A suspended coroutine forwards cancel to what it awaits (`awaiting`): the
// cell it waits on, or an I/O operation's awaiter.
//
// Recording (trace.hpp). A coroutine made while its thread records (lwt::main::dump,
// LWT_TRACE) holds a slot in the thread's registry and has `flags & recorded` set. The flags
// byte is the one every suspension already tests for the trampoline, so a coroutine that is
// not recorded pays nothing more to suspend; one that is notes its await point (the return
// address of a call made from the co_await itself) and the time.
#pragma once

#include <lwt/detail/keys.hpp>
#include <lwt/detail/state.hpp>
#include <lwt/detail/trace.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>
#include <utility>

namespace lwt {
template <class T>
class promise;
}

namespace lwt::detail {

template <class T>
cell<T>* state_of(const promise<T>& p) noexcept;
template <class T>
promise<T> adopt(cell<T>* s) noexcept;

template <class P>
struct is_promise : std::false_type {};
template <class T>
struct is_promise<promise<T>> : std::true_type {};
template <class P>
inline constexpr bool is_promise_v = is_promise<std::remove_cvref_t<P>>::value;

template <class P>
struct promise_value {};
template <class T>
struct promise_value<promise<T>> {
    using type = T;
};
template <class P>
using promise_value_t = typename promise_value<std::remove_cvref_t<P>>::type;

// An awaitable that stands for a promise it converts to (unix_::transfer): `lwt_promise`
// names it. as_promise_t gives that promise type (a promise gives itself).
template <class A>
concept converts_to_promise = requires { typename std::remove_cvref_t<A>::lwt_promise; };
template <class R>
struct as_promise {
    using type = R;
};
template <converts_to_promise R>
struct as_promise<R> {
    using type = typename R::lwt_promise;
};
template <class R>
using as_promise_t = typename as_promise<std::remove_cvref_t<R>>::type;
template <class R>
inline constexpr bool promise_like_v = is_promise_v<as_promise_t<R>>;
// What awaiting an R gives: R itself, or the value of the promise R is.
template <class R, bool IsPromise>
struct awaited {
    using type = R;
};
template <class R>
struct awaited<R, true> {
    using type = promise_value_t<R>;
};

// What a suspended lwt coroutine exposes to the awaiters it uses.
struct coro_info {
    explicit coro_info(key_frame* k) noexcept : keys(k) {}

    key_frame* keys;                 // the key values current at the coroutine's creation
    cancelable* awaiting = nullptr;  // what cancel forwards to while suspended
    std::uint8_t flags = 0;          // owns_trampoline | recorded
    std::uint32_t trace_slot;        // recorded: its slot in the thread's registry, plus 1 (set by note_start)

    // Owns the trampoline until its first suspension (1: coro_initial ors in a bool).
    static constexpr std::uint8_t owns_trampoline = 1;
    // Recorded (trace.hpp): suspensions and resumptions are noted.
    static constexpr std::uint8_t recorded = 2;

    // Called by every awaiter when the coroutine is about to suspend: the trampoline's owner
    // hands it back, draining what was deferred (the drain may settle what we are about to
    // wait on). Inlined into the co_await, so that note_suspension's return address is the
    // await point.
    LWT_INLINE void suspending() noexcept {
        if (LWT_UNLIKELY(flags != 0)) {
            if (flags & recorded) note_suspension(this);
            if (flags & owns_trampoline) {
                flags &= static_cast<std::uint8_t>(~owns_trampoline);
                release_trampoline();
            }
        }
    }
};

// (The recording fields live in what was padding: a frame is no larger for them.)
static_assert(sizeof(void*) != 8 || sizeof(coro_info) == 24, "coro_info grew");

// Whether T can really be copied: std::is_copy_constructible says yes for a vector, pair,
// tuple or optional of move-only elements (their copy constructors are not constrained).
template <class T>
struct copyable : std::is_copy_constructible<T> {};
template <class T, class A>
struct copyable<std::vector<T, A>> : copyable<T> {};
template <class A, class B>
struct copyable<std::pair<A, B>> : std::conjunction<copyable<A>, copyable<B>> {};
template <class... Ts>
struct copyable<std::tuple<Ts...>> : std::conjunction<copyable<Ts>...> {};
template <class T>
struct copyable<std::optional<T>> : copyable<T> {};
template <class T>
inline constexpr bool copyable_v = copyable<T>::value;

// How co_await hands out the value of a settled cell.
enum class take {
    copy,  // lvalue operand: a copy (a const reference when T cannot be copied)
    move,  // rvalue operand: moved out when T cannot be copied or this is the last handle
    none,  // only wait for settlement (and rethrow a rejection): detail::settled(p)
};

template <class T, take Mode>
LWT_INLINE decltype(auto) take_outcome(cell<T>* s) {
    s->rethrow_if_rejected();
    if constexpr (std::is_void_v<T> || Mode == take::none) {
        return;
    } else if constexpr (!copyable_v<T>) {
        if constexpr (Mode == take::move) {
            return T(std::move(s->value));
        } else {
            return static_cast<const T&>(s->value);
        }
    } else if constexpr (Mode == take::move) {
        if (s->refs == 1) return T(std::move(s->value));
        return T(s->value);
    } else {
        return T(s->value);
    }
}

// `co_await settled(p)` waits for p and rethrows its rejection without copying its value.
template <class T>
struct settled_t {
    const promise<T>& p;
};
template <class T>
settled_t<T> settled(const promise<T>& p) noexcept {
    return {p};
}
// Awaiters of the runtime that manage the trampoline and keys themselves.
template <class A>
concept native_awaiter = requires { typename std::remove_cvref_t<A>::lwt_native_awaiter; };
// An awaitable whose lwt_awaiter() gives a native awaiter by value (unix_::transfer, which
// must not be copied, as g++ 12 does with an awaiter it gets by reference).
template <class A>
concept gives_native_awaiter = requires(A&& a) {
    { std::forward<A>(a).lwt_awaiter() } -> native_awaiter;
};

template <class A>
struct is_settled_t : std::false_type {};
template <class T>
struct is_settled_t<settled_t<T>> : std::true_type {};

// co_await of an lwt promise inside an lwt coroutine. Building it stores one pointer: awaiting
// a settled promise (the common case) touches nothing else; the rest is set on suspension.
template <class T, take Mode>
struct coro_awaiter final : waiter {
    cell<T>* s;
    coro_info* info;
    void* frame;

    explicit coro_awaiter(cell<T>* s_) noexcept : s(s_) {}

    LWT_INLINE bool await_ready() const noexcept { return !s->pending(); }
    template <class P>
    LWT_INLINE bool await_suspend(std::coroutine_handle<P> handle) noexcept {
        info = &handle.promise();
        info->suspending();
        if (LWT_UNLIKELY(!s->pending())) return false;  // settled by the drain
        frame = handle.address();
        fire = &fire_fn;
        on_cancel = false;
        info->awaiting = s;
        s->link(this);
        return true;
    }
    LWT_INLINE decltype(auto) await_resume() { return take_outcome<T, Mode>(s); }

    static void fire_fn(waiter* w, cell_base* settled) noexcept {
        auto* a = static_cast<coro_awaiter*>(w);
        if (settled == nullptr) return;  // unreachable: the awaited handle keeps the cell
        a->info->awaiting = nullptr;
        if (LWT_UNLIKELY(a->info->flags & coro_info::recorded)) note_resumption(a->info);
        keys_scope k(a->info->keys);
        std::coroutine_handle<>::from_address(a->frame).resume();  // `a` may be gone after this
    }
};

// co_await of an lwt promise inside any other coroutine type.
template <class T, take Mode>
struct plain_awaiter final : waiter {
    cell<T>* s;
    std::coroutine_handle<> h;

    explicit plain_awaiter(cell<T>* s_) noexcept : s(s_), h(nullptr) {}
    bool await_ready() const noexcept { return !s->pending(); }
    void await_suspend(std::coroutine_handle<> handle) noexcept {
        h = handle;
        fire = &fire_fn;
        on_cancel = false;
        s->link(this);
    }
    decltype(auto) await_resume() { return take_outcome<T, Mode>(s); }

    static void fire_fn(waiter* w, cell_base* settled) noexcept {
        auto* a = static_cast<plain_awaiter*>(w);
        if (settled == nullptr) return;
        keys_scope k(ctx.keys);  // whatever the foreign coroutine does, restore ours after
        a->h.resume();
    }
};

// Any other awaitable inside an lwt coroutine: hands the trampoline back before suspending
// and makes the coroutine's keys current again when it resumes.
template <class A>
decltype(auto) get_awaiter(A&& a) {
    if constexpr (requires { std::forward<A>(a).operator co_await(); })
        return std::forward<A>(a).operator co_await();
    else if constexpr (requires { operator co_await(std::forward<A>(a)); })
        return operator co_await(std::forward<A>(a));
    else
        return std::forward<A>(a);
}

template <class Aw>
struct foreign_awaiter {
    Aw aw;
    coro_info* info;
    bool await_ready() { return aw.await_ready(); }
    template <class P>
    LWT_INLINE auto await_suspend(std::coroutine_handle<P> h) {
        info->suspending();
        if (LWT_UNLIKELY(info->flags & coro_info::recorded)) note_foreign_wait(info);
        return aw.await_suspend(h);
    }
    decltype(auto) await_resume() {
        ctx.keys = info->keys;
        if (LWT_UNLIKELY(info->flags & coro_info::recorded)) note_resumption(info);
        return aw.await_resume();
    }
};

// The parts of the promise_type that do not depend on T.
struct coro_common : coro_info {
    coro_common() noexcept : coro_info(retain_keys(ctx.keys)) {}
    ~coro_common() { release_keys(keys); }

    template <class U>
    coro_awaiter<U, take::copy> await_transform(promise<U>& p) noexcept {
        return coro_awaiter<U, take::copy>(state_of(p));
    }
    template <class U>
    coro_awaiter<U, take::copy> await_transform(const promise<U>& p) noexcept {
        return coro_awaiter<U, take::copy>(state_of(p));
    }
    template <class U>
    coro_awaiter<U, take::move> await_transform(promise<U>&& p) noexcept {
        return coro_awaiter<U, take::move>(state_of(p));
    }
    template <class U>
    coro_awaiter<U, take::none> await_transform(settled_t<U> p) noexcept {
        return coro_awaiter<U, take::none>(state_of(p.p));
    }
    template <class A>
        requires native_awaiter<A>
    A&& await_transform(A&& a) noexcept {
        return std::forward<A>(a);
    }
    template <gives_native_awaiter A>
    auto await_transform(A&& a) noexcept {
        return std::forward<A>(a).lwt_awaiter();
    }
    template <class A>
        requires(!is_promise_v<A> && !is_settled_t<std::remove_cvref_t<A>>::value && !native_awaiter<A> &&
                 !gives_native_awaiter<A>)
    auto await_transform(A&& a) {
        using Aw = decltype(get_awaiter(std::forward<A>(a)));
        return foreign_awaiter<Aw>{get_awaiter(std::forward<A>(a)), this};
    }
};

template <class T>
struct coro_state;

template <class T>
struct coro_initial {
    coro_state<T>* p;
    LWT_INLINE bool await_ready() noexcept {
        // (Here, in the body, rather than in the promise's constructor: the call would cost
        // the caller's ramp saved registers on every call, recorded or not.)
        if (LWT_UNLIKELY(ctx.tracing != 0)) note_start(p, p);
        if (LWT_UNLIKELY(stack_low()) && (ctx.depth > 0 || ctx.trampoline)) return false;
        p->flags |= static_cast<std::uint8_t>(acquire_trampoline());  // (owns_trampoline is 1)
        return true;
    }
    void await_suspend(std::coroutine_handle<> h) noexcept {
        if (LWT_UNLIKELY(p->flags & coro_info::recorded)) note_deferred_start(p);
        defer(&start_job, h.address());
    }
    void await_resume() noexcept {}

    static void start_job(void* addr) noexcept {
        auto h = std::coroutine_handle<coro_state<T>>::from_address(addr);
        coro_state<T>& p = h.promise();
        if (LWT_UNLIKELY(p.flags & coro_info::recorded)) note_resumption(&p);
        keys_scope k(p.keys);
        h.resume();
    }
};

template <class T>
struct coro_final {
    bool await_ready() const noexcept { return false; }
    void await_suspend(std::coroutine_handle<coro_state<T>> h) noexcept {
        coro_state<T>& p = h.promise();
        settle(&p, false);  // we hold the running reference: p stays valid
        if (p.flags == coro_info::owns_trampoline) {  // (the common case: one test)
            release_trampoline();
        } else if (LWT_UNLIKELY(p.flags != 0)) {
            note_end(&p);  // recorded
            if (p.flags & coro_info::owns_trampoline) release_trampoline();
        }
        release(&p);  // the running reference: may destroy this frame (we are suspended)
    }
    void await_resume() const noexcept {}
};

template <class T>
struct coro_state_base : cell<T>, coro_common {
    coro_state_base() noexcept {
        this->cancel_fn = &cancel_forward;
        this->destroy_fn = &destroy;
        // (describe_awaited finds the frame 16 bytes before its promise, after the resume
        // and destroy pointers, as g++ and clang lay it out for a promise aligned to 16 or less.)
        if constexpr (alignof(coro_state<T>) <= 16) this->maker = cell_base::made_by::coroutine;
    }

    static void* operator new(std::size_t n) { return pool_alloc(n); }
    static void operator delete(void* ptr, std::size_t n) noexcept { pool_free(ptr, n); }

    promise<T> get_return_object() noexcept {
        retain(this);
        return adopt<T>(this);
    }
    coro_initial<T> initial_suspend() noexcept { return {static_cast<coro_state<T>*>(this)}; }
    coro_final<T> final_suspend() noexcept { return {}; }
    void unhandled_exception() noexcept { this->set_rejected(std::current_exception()); }

private:
    static void cancel_forward(cancelable* self, cancel_walk& w, cell_base*) {
        auto* p = static_cast<coro_state<T>*>(static_cast<cell_base*>(self));
        if (p->pending() && p->awaiting != nullptr) w.visit(p->awaiting, p);
    }
    static void destroy(cell_base* s) noexcept {
        std::coroutine_handle<coro_state<T>>::from_promise(*static_cast<coro_state<T>*>(s)).destroy();
    }
};

template <class T>
struct coro_state final : coro_state_base<T> {
    template <class U = T>
        requires std::is_constructible_v<T, U&&>
    void return_value(U&& v) {
        this->set_value(std::forward<U>(v));
    }
};

template <>
struct coro_state<void> final : coro_state_base<void> {
    void return_void() noexcept { this->set_value(); }
};

}  // namespace lwt::detail
