// lwt::promise<T> -- Lwt's 'a Lwt.t -- and the core of Lwt: creating, resolving, awaiting,
// combining and cancelling promises. No I/O and no loop needed (except `pause`, which the
// main loop wakes). The behaviour is the semantic rules of docs/semantics.md; the machinery lives in
// lwt/detail/state.hpp (cells, waiters, cancellation) and lwt/detail/coroutine.hpp
// (coroutine frames), each opening with a reading guide.
#pragma once

#include <lwt/detail/coroutine.hpp>
#include <lwt/detail/keys.hpp>
#include <lwt/detail/loop.hpp>
#include <lwt/detail/state.hpp>

#include <coroutine>
#include <exception>
#include <functional>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt {

template <class T>
class resolver;

// A cheap, copyable handle to a shared write-once cell. Not default-constructible. A
// coroutine returning promise<T> starts at once (docs/semantics.md rule 2) and its frame is the cell.
template <class T>
class promise {
public:
    using value_type = T;
    using promise_type = detail::coro_state<T>;

    promise(const promise& o) noexcept : s_(o.s_) { detail::retain(s_); }
    promise(promise&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    promise& operator=(const promise& o) noexcept {
        detail::retain(o.s_);
        reset(o.s_);
        return *this;
    }
    promise& operator=(promise&& o) noexcept {
        if (this != &o) reset(std::exchange(o.s_, nullptr));
        return *this;
    }
    ~promise() {
        if (s_ != nullptr) detail::release(s_);
    }

    lwt::state state() const noexcept { return s_->st; }
    bool is_pending() const noexcept { return s_->pending(); }  // Lwt.is_sleeping
    // fulfilled: the value; rejected: rethrows; pending: throws std::logic_error.
    decltype(auto) value() const {
        s_->check_settled();
        s_->rethrow_if_rejected();
        if constexpr (!std::is_void_v<T>) return static_cast<const T&>(s_->value);
    }
    // The rejection, or null unless rejected.
    std::exception_ptr exception() const noexcept {
        return s_->st == lwt::state::rejected ? s_->exc : std::exception_ptr{};
    }

    // Awaiting from a coroutine that is not an lwt coroutine (lwt coroutines use
    // await_transform, which also restores keys and forwards cancellation).
    detail::plain_awaiter<T, detail::take::copy> operator co_await() const& noexcept {
        return detail::plain_awaiter<T, detail::take::copy>(s_);
    }
    detail::plain_awaiter<T, detail::take::move> operator co_await() && noexcept {
        return detail::plain_awaiter<T, detail::take::move>(s_);
    }

    friend bool operator==(const promise& a, const promise& b) noexcept { return a.s_ == b.s_; }

private:
    explicit promise(detail::cell<T>* s) noexcept : s_(s) {}
    void reset(detail::cell<T>* s) noexcept {
        detail::cell<T>* old = std::exchange(s_, s);
        if (old != nullptr) detail::release(old);
    }

    detail::cell<T>* s_;

    friend detail::cell<T>* detail::state_of<T>(const promise<T>&) noexcept;
    friend promise<T> detail::adopt<T>(detail::cell<T>*) noexcept;
};

// lwt::promise p = lwt::unix_::read(...): the promise an awaitable converts to.
template <detail::converts_to_promise A>
promise(A&&) -> promise<detail::promise_value_t<detail::as_promise_t<A>>>;

namespace detail {
template <class T>
LWT_INLINE cell<T>* state_of(const promise<T>& p) noexcept {
    return p.s_;
}
template <class T>
LWT_INLINE promise<T> adopt(cell<T>* s) noexcept {  // takes over one reference
    return promise<T>(s);
}
template <class T>
heap_state<T>* new_heap_state(bool cancelable) {
    return new heap_state<T>(cancelable);
}

// Resolving a cell from outside (resolvers, wakeup*): `later` selects wakeup_later.
template <class T, class... A>
void resolve_cell(cell<T>* s, bool later, A&&... v) {
    if (!s->begin_resolve()) return;
    s->set_value(std::forward<A>(v)...);
    settle(s, later);
}
LWT_EXPORT void reject_cell(cell_base* s, bool later, std::exception_ptr e);

// An outcome computed away from the cell's loop (a worker thread, another loop): the
// exception, or else the value (bool for void).
template <class T>
using stored_t = std::conditional_t<std::is_void_v<T>, bool, T>;
template <class T>
struct outcome_of {
    std::optional<stored_t<T>> value;
    std::exception_ptr error;
};
// Settles `c` with the outcome, on the cell's own loop, unless it has settled meanwhile
// (cancelled): the outcome is then dropped.
template <class T>
void settle_with(cell<T>* c, outcome_of<T>& o) noexcept {
    if (!c->pending()) return;
    if (o.error) {
        c->set_rejected(std::move(o.error));
    } else if constexpr (std::is_void_v<T>) {
        c->set_value();
    } else {
        c->set_value(std::move(*o.value));
    }
    settle(c, false);
}

template <class E>
std::exception_ptr to_exception_ptr(E&& e) {
    using D = std::decay_t<E>;
    if constexpr (std::is_same_v<D, std::exception_ptr>) {
        return std::forward<E>(e);
    } else {
        if constexpr (std::is_polymorphic_v<D> && std::is_lvalue_reference_v<E>) {
            // `catch (const std::exception& x) { r.reject(x); }`: x may be a derived object,
            // which a copy would slice -- the exception being handled is that very object.
            if (std::exception_ptr cur = std::current_exception()) {
                try {
                    std::rethrow_exception(cur);
                } catch (const D& handled) {
                    if (&handled == &e) return cur;
                } catch (...) {
                }
            }
        }
        return std::make_exception_ptr(std::forward<E>(e));
    }
}
}  // namespace detail

// 'a Lwt.u: all copies resolve one promise. resolve/reject are Lwt's wakeup_later*.
template <class T>
class resolver {
public:
    resolver(const resolver& o) noexcept : s_(o.s_) {
        detail::retain(s_);
        ++s_->resolvers;
    }
    resolver(resolver&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    resolver& operator=(resolver o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~resolver() {
        if (s_ == nullptr) return;
        if (--s_->resolvers == 0 && s_->pending()) detail::abandon(s_);
        detail::release(s_);
    }

    template <class... A>
        requires(std::is_void_v<T> ? sizeof...(A) == 0 : std::is_constructible_v<T, A&&...>)
    void resolve(A&&... v) const {
        detail::resolve_cell(cell(), true, std::forward<A>(v)...);
    }
    template <class E>
    void reject(E&& e) const {
        detail::reject_cell(cell(), true, detail::to_exception_ptr(std::forward<E>(e)));
    }

    // The cell this resolver resolves (for the library's own machinery).
    detail::cell<T>* cell() const noexcept { return s_; }

    // Takes over one reference to s.
    static resolver adopt(detail::heap_state<T>* s) noexcept { return resolver(s); }

private:
    explicit resolver(detail::heap_state<T>* s) noexcept : s_(s) { ++s_->resolvers; }
    detail::heap_state<T>* s_;
};

namespace detail {
template <class T>
std::pair<promise<T>, resolver<T>> make_wait(bool cancelable) {
    auto* s = new_heap_state<T>(cancelable);
    retain(s);
    return {adopt<T>(s), resolver<T>::adopt(s)};
}
}  // namespace detail

// Lwt.wait: a pending promise and its resolver; cancel does nothing to it.
template <class T = void>
std::pair<promise<T>, resolver<T>> wait() {
    return detail::make_wait<T>(false);
}
// Lwt.task: the same, but cancelable (cancel rejects it with lwt::canceled).
template <class T = void>
std::pair<promise<T>, resolver<T>> task() {
    return detail::make_wait<T>(true);
}

// Lwt.wakeup*: immediate (callbacks run inside the call unless the stack is low).
template <class T, class... A>
void wakeup(const resolver<T>& r, A&&... v) {
    detail::resolve_cell(r.cell(), false, std::forward<A>(v)...);
}
template <class T, class E>
void wakeup_exn(const resolver<T>& r, E&& e) {
    detail::reject_cell(r.cell(), false, detail::to_exception_ptr(std::forward<E>(e)));
}
// Lwt.wakeup_later*: deferred until the running resolution finishes when nested (rule 3).
template <class T, class... A>
void wakeup_later(const resolver<T>& r, A&&... v) {
    detail::resolve_cell(r.cell(), true, std::forward<A>(v)...);
}
template <class T, class E>
void wakeup_later_exn(const resolver<T>& r, E&& e) {
    detail::reject_cell(r.cell(), true, detail::to_exception_ptr(std::forward<E>(e)));
}

// Lwt.return: a fulfilled promise. return_("s") gives promise<std::string>.
template <class V>
auto return_(V&& v) {
    using T = std::conditional_t<std::is_convertible_v<V&&, const char*> && !std::is_null_pointer_v<std::decay_t<V>>,
                                 std::string, std::decay_t<V>>;
    auto* s = detail::new_heap_state<T>(false);
    s->set_value(std::forward<V>(v));
    return detail::adopt<T>(s);
}
LWT_EXPORT promise<void> return_();

// Lwt.fail: a rejected promise. An exception object keeps its dynamic type.
template <class T = void, class E>
promise<T> fail(E&& e) {
    auto* s = detail::new_heap_state<T>(false);
    s->set_rejected(detail::to_exception_ptr(std::forward<E>(e)));
    return detail::adopt<T>(s);
}

// ---------------------------------------------------------------------------------------
// Cancellation (rule 6).

template <class T>
void cancel(const promise<T>& p) {
    detail::cancel(detail::state_of(p));
}

namespace detail {

// Runs f (which may throw) as a fire-and-forget callback: exceptions go to the hook (rule 5).
template <class F, class... A>
void guarded(F& f, A&&... a) noexcept {
    try {
        std::invoke(f, std::forward<A>(a)...);
    } catch (...) {
        call_async_exception_hook(std::current_exception());
    }
}

// Attaches `fn(node, settled_cell)` to p, or runs it now if p is settled. `F` must be callable
// as on_settled(const cell<T>&); exceptions go to the async exception hook.
template <class T, class F>
void when_settled(cell<T>* s, F&& on_settled) {
    if (!s->pending()) {
        key_frame* saved = ctx.keys;
        guarded(on_settled, static_cast<const cell<T>&>(*s));
        ctx.keys = saved;
        return;
    }
    struct bound {
        std::decay_t<F> f;
        key_frame* keys;  // Lwt restores the key values current at registration
        bound(F&& g, key_frame* k) : f(std::forward<F>(g)), keys(retain_keys(k)) {}
        bound(const bound&) = delete;
        bound& operator=(const bound&) = delete;
        ~bound() { release_keys(keys); }
    };
    struct node final : waiter, pooled {
        bound b;
        node(F&& g, key_frame* k) : waiter(&fire_node), b(std::forward<F>(g), k) {}
        static void fire_node(waiter* w, cell_base* settled) noexcept {
            auto* self = static_cast<node*>(w);
            if (settled != nullptr) {
                keys_scope ks(self->b.keys);
                guarded(self->b.f, static_cast<const cell<T>&>(*settled));
            }
            delete self;
        }
    };
    auto* n = new node(std::forward<F>(on_settled), ctx.keys);
    s->link(n);
}

// Keeps the callable f alive until the promise f() returned settles (API: callables), then
// frees it. A synchronous throw from f propagates to the caller.
template <class F>
struct keep_box final : waiter, pooled {
    F f;
    template <class G>
    explicit keep_box(G&& g)
        : waiter([](waiter* w, cell_base*) noexcept { delete static_cast<keep_box*>(w); }), f(std::forward<G>(g)) {}
};

template <class F>
auto invoke_keeping(F&& f) -> as_promise_t<std::invoke_result_t<std::decay_t<F>&>> {
    using R = as_promise_t<std::invoke_result_t<std::decay_t<F>&>>;
    if constexpr (!is_promise_v<R>) {
        return std::invoke(f);
    } else if constexpr (std::is_empty_v<std::decay_t<F>> && std::is_trivially_copyable_v<std::decay_t<F>>) {
        // Nothing captured: nothing can dangle.
        return std::invoke(f);
    } else {
        auto* box = new keep_box<std::decay_t<F>>(std::forward<F>(f));
        R p = [&]() -> R {
            try {
                return std::invoke(box->f);
            } catch (...) {
                delete box;
                throw;
            }
        }();
        auto* s = state_of(p);
        if (s->pending())
            s->link(box);
        else
            delete box;
        return p;
    }
}

// Calls f, turning a synchronous throw into a rejected promise.
template <class F>
auto invoke_to_promise(F&& f) -> as_promise_t<std::invoke_result_t<F&&>> {
    using R = as_promise_t<std::invoke_result_t<F&&>>;
    try {
        return invoke_keeping(std::forward<F>(f));
    } catch (...) {
        return fail<promise_value_t<R>>(std::current_exception());
    }
}

// A combinator's argument as a promise: a promise as it is, an operation converted (which
// spends it: a named one is passed as std::move(op)).
template <class A>
decltype(auto) to_promise(A&& a) {
    if constexpr (converts_to_promise<A>) {
        static_assert(!std::is_lvalue_reference_v<A>, "lwt: pass a named operation as std::move(op)");
        return as_promise_t<A>(std::forward<A>(a));
    } else {
        return std::forward<A>(a);
    }
}
// Arguments that include an operation among promises.
template <class... As>
concept with_operation = (converts_to_promise<As> || ...) && (promise_like_v<As> && ...);

}  // namespace detail

// Lwt.on_cancel: f runs if p is rejected with lwt::canceled (at once if it already is), before
// p's other waiters, with the key values current when on_cancel was called (rule 10).
// Exceptions from f go to the async exception hook.
template <class T, class F>
void on_cancel(const promise<T>& p, F&& f) {
    auto* s = detail::state_of(p);
    if (!s->pending()) {
        if (s->canceled) detail::guarded(f);
        return;
    }
    struct node final : detail::waiter, detail::pooled {
        std::decay_t<F> f;
        detail::key_frame* keys;
        node(F&& g, detail::key_frame* k)
            : waiter(&fire, true), f(std::forward<F>(g)), keys(detail::retain_keys(k)) {}
        node(const node&) = delete;
        node& operator=(const node&) = delete;
        ~node() { detail::release_keys(keys); }
        static void fire(detail::waiter* w, detail::cell_base* settled) noexcept {
            auto* self = static_cast<node*>(w);
            if (settled != nullptr && settled->canceled) {
                detail::keys_scope ks(self->keys);
                detail::guarded(self->f);
            }
            delete self;
        }
    };
    s->link(new node(std::forward<F>(f), detail::ctx.keys));
}

}  // namespace lwt

#include <lwt/detail/combinators.hpp>

namespace lwt {

// Lwt.protected: a promise that follows p, but cancelling it rejects only itself (p goes on).
// A settled p is returned as is.
template <class T>
promise<T> protected_(const promise<T>& p) {
    return detail::make_follower<T, detail::follow_kind::protect>(detail::state_of(p));
}
// Lwt.no_cancel: a promise that follows p and ignores cancel (p may still be cancelled
// directly, and then it follows).
template <class T>
promise<T> no_cancel(const promise<T>& p) {
    return detail::make_follower<T, detail::follow_kind::no_cancel>(detail::state_of(p));
}
// Lwt.wrap_in_cancelable: a cancelable promise that follows p; cancelling it rejects it and
// cancels p (a wait() promise stays pending).
template <class T>
promise<T> wrap_in_cancelable(const promise<T>& p) {
    return detail::make_follower<T, detail::follow_kind::wrap>(detail::state_of(p));
}

// ---------------------------------------------------------------------------------------
// Callbacks: on_success, on_failure, on_termination, on_any. Exceptions go to the hook.

template <class T, class F>
void on_success(const promise<T>& p, F&& f) {
    detail::when_settled(detail::state_of(p), [f = std::forward<F>(f)](const detail::cell<T>& s) mutable {
        if (s.st != lwt::state::fulfilled) return;
        if constexpr (std::is_void_v<T>)
            f();
        else
            f(static_cast<const T&>(s.value));
    });
}
template <class T, class F>
void on_failure(const promise<T>& p, F&& f) {
    detail::when_settled(detail::state_of(p), [f = std::forward<F>(f)](const detail::cell<T>& s) mutable {
        if (s.st == lwt::state::rejected) f(s.exc);
    });
}
template <class T, class F>
void on_termination(const promise<T>& p, F&& f) {
    detail::when_settled(detail::state_of(p), [f = std::forward<F>(f)](const detail::cell<T>&) mutable { f(); });
}
template <class T, class F, class G>
void on_any(const promise<T>& p, F&& f, G&& g) {
    detail::when_settled(detail::state_of(p),
                         [f = std::forward<F>(f), g = std::forward<G>(g)](const detail::cell<T>& s) mutable {
                             if (s.st == lwt::state::rejected)
                                 g(s.exc);
                             else if constexpr (std::is_void_v<T>)
                                 f();
                             else
                                 f(static_cast<const T&>(s.value));
                         });
}

// ---------------------------------------------------------------------------------------
// Fire and forget.

// Called with every exception that escapes fire-and-forget code (rule 5). Empty: print what()
// to stderr and std::exit(2). Treated as noexcept: a throwing hook terminates. Process-wide.
LWT_EXPORT extern std::function<void(std::exception_ptr)> async_exception_hook;

namespace detail {
// What async does with a rejection: the hook (rule 5).
struct to_async_hook {
    void operator()(std::exception_ptr e) const noexcept { call_async_exception_hook(std::move(e)); }
};

// Lwt.async and Lwt.dont_wait: calls f, keeping it alive until the promise it returned
// settles (API: callables), and gives that promise's rejection -- or f's synchronous throw
// -- to on_failure. One node does both, so that a server's connection started with async
// holds one small block beside its coroutine, not two. A handler other than the hook is a
// callback like on_failure's: it runs with the key values current here, and what it throws
// goes to the hook.
template <class F, class H>
void run_reporting(F&& f, H&& on_failure) noexcept {
    using FD = std::decay_t<F>;
    using HD = std::decay_t<H>;
    using R = as_promise_t<std::invoke_result_t<FD&>>;
    static_assert(is_promise_v<R>, "lwt::async, lwt::dont_wait: f() must return a promise (or an operation)");
    constexpr bool keeps_keys = !std::is_same_v<HD, to_async_hook>;
    struct no_keys {};
    struct node final : waiter, pooled {
        [[no_unique_address]] FD f;
        [[no_unique_address]] HD h;
        [[no_unique_address]] std::conditional_t<keeps_keys, key_frame*, no_keys> keys;
        node(F&& g, H&& k) : waiter(&fire_node), f(std::forward<F>(g)), h(std::forward<H>(k)) {
            if constexpr (keeps_keys) keys = retain_keys(ctx.keys);
        }
        node(const node&) = delete;
        node& operator=(const node&) = delete;
        ~node() {
            if constexpr (keeps_keys) release_keys(keys);
        }
        void report(std::exception_ptr e) noexcept {
            if constexpr (keeps_keys) {
                keys_scope ks(keys);
                guarded(h, std::move(e));
            } else {
                h(std::move(e));
            }
        }
        static void fire_node(waiter* w, cell_base* settled) noexcept {
            auto* self = static_cast<node*>(w);
            if (settled != nullptr && settled->st == lwt::state::rejected) self->report(settled->exc);
            delete self;
        }
    };
    node* n = nullptr;
    try {
        n = new node(std::forward<F>(f), std::forward<H>(on_failure));
    } catch (...) {  // (no memory for the node)
        guarded(on_failure, std::current_exception());
        return;
    }
    try {
        R p = std::invoke(n->f);
        cell_base* s = state_of(p);
        if (s->pending()) {
            s->link(n);
            return;
        }
        if (s->st == lwt::state::rejected) n->report(s->exc);
    } catch (...) {
        n->report(std::current_exception());
    }
    delete n;
}
}  // namespace detail

// Lwt.async: runs f now; its rejection (or synchronous throw) goes to async_exception_hook.
template <class F>
void async(F&& f) {
    detail::run_reporting(std::forward<F>(f), detail::to_async_hook{});
}
// Lwt.dont_wait: runs f now; its rejection (or synchronous throw) goes to handler.
template <class F, class H>
void dont_wait(F&& f, H&& handler) {
    detail::run_reporting(std::forward<F>(f), std::forward<H>(handler));
}

// ---------------------------------------------------------------------------------------
// Combinators (rule 8). Inputs: a braced list, a std::vector, or variadic arguments (among
// which operations such as unix_::read(...), converted to promises).
// nchoose_split gives the values fulfilled when the first input settles and the inputs
// still pending then (their order is unspecified).
#define LWT_SPLIT_RESULT(T) promise<std::pair<std::vector<T>, std::vector<promise<T>>>>

template <class T>
promise<std::vector<T>> all(std::vector<promise<T>> ps) {
    return detail::make_all<T>(std::move(ps));
}
template <class T>
promise<std::vector<T>> all(std::initializer_list<promise<T>> ps) {
    return detail::make_all<T>(std::vector<promise<T>>(ps));
}
template <class A, class B>
promise<std::pair<A, B>> both(const promise<A>& a, const promise<B>& b) {
    return detail::make_both<A, B>(a, b);
}
template <class A, class B>
    requires detail::with_operation<A, B>
auto both(A&& a, B&& b) {
    return both(detail::to_promise(std::forward<A>(a)), detail::to_promise(std::forward<B>(b)));
}

inline promise<void> join(std::vector<promise<void>> ps) { return detail::make_join(std::move(ps)); }
inline promise<void> join(std::initializer_list<promise<void>> ps) {
    return join(std::vector<promise<void>>(ps));
}
template <class... Ps>
    requires(sizeof...(Ps) >= 1 && (std::is_same_v<detail::as_promise_t<Ps>, promise<void>> && ...))
promise<void> join(Ps&&... ps) {
    return join(std::vector<promise<void>>{detail::to_promise(std::forward<Ps>(ps))...});
}

#define LWT_DEFINE_RACE(name, result_t, kind)                                                          \
    template <class T>                                                                                 \
    result_t name(const std::vector<promise<T>>& ps) {                                                 \
        const promise<T>* a = ps.data();                                                               \
        return detail::make_race<T, detail::race_kind::kind>(                                          \
            ps.size(), [a](std::size_t i) { return detail::state_of(a[i]); }, #name);                  \
    }                                                                                                  \
    template <class T>                                                                                 \
    result_t name(std::initializer_list<promise<T>> ps) {                                              \
        const promise<T>* a = ps.begin();                                                              \
        return detail::make_race<T, detail::race_kind::kind>(                                          \
            ps.size(), [a](std::size_t i) { return detail::state_of(a[i]); }, #name);                  \
    }                                                                                                  \
    template <class T, class... Ps>                                                                    \
        requires(std::is_same_v<std::remove_cvref_t<Ps>, promise<T>> && ...)                           \
    result_t name(const promise<T>& first, const Ps&... rest) {                                        \
        const promise<T>* a[] = {&first, &rest...};                                                    \
        return detail::make_race<T, detail::race_kind::kind>(                                          \
            sizeof...(Ps) + 1, [&a](std::size_t i) { return detail::state_of(*a[i]); }, #name);        \
    }                                                                                                  \
    template <class... As>                                                                             \
        requires detail::with_operation<As...>                                                         \
    auto name(As&&... as) {                                                                            \
        return name(detail::to_promise(std::forward<As>(as))...);                                      \
    }

LWT_DEFINE_RACE(pick, promise<T>, pick)
LWT_DEFINE_RACE(choose, promise<T>, choose)
LWT_DEFINE_RACE(npick, promise<std::vector<T>>, npick)
LWT_DEFINE_RACE(nchoose, promise<std::vector<T>>, nchoose)
LWT_DEFINE_RACE(nchoose_split, LWT_SPLIT_RESULT(T), nchoose_split)
#undef LWT_DEFINE_RACE
#undef LWT_SPLIT_RESULT

// ---------------------------------------------------------------------------------------
// pause (rule 9): resolved on the next main-loop iteration; cancelable.

inline promise<void> pause() { return detail::adopt<void>(new detail::pause_node()); }
// Number of pause() promises waiting for the next iteration (Lwt.paused_count).
LWT_EXPORT std::size_t paused_count() noexcept;

// ---------------------------------------------------------------------------------------
// Keys (rule 10): Lwt.new_key / get / with_value.

template <class T>
class key {
public:
    key() noexcept : id_(detail::new_key_id()) {}
    std::uint64_t id() const noexcept { return id_; }

private:
    std::uint64_t id_;
};

template <class T>
std::optional<T> get(const key<T>& k) {
    for (detail::key_frame* f = detail::ctx.keys; f != nullptr; f = f->parent)
        if (f->id == k.id()) return static_cast<detail::key_node<T>*>(f)->value;
    return std::nullopt;
}

// Runs f() with k bound to v (std::nullopt: unbound); every coroutine f creates sees it too,
// after each co_await. Restores the previous bindings when f returns or throws; f's
// exceptions propagate. Returns f()'s result.
template <class T, class F>
decltype(auto) with_value(const key<T>& k, std::optional<T> v, F&& f) {
    auto* node = new detail::key_node<T>();
    node->id = k.id();
    node->value = std::move(v);
    node->parent = detail::retain_keys(detail::ctx.keys);
    node->destroy = [](detail::key_frame* kf) noexcept { delete static_cast<detail::key_node<T>*>(kf); };
    struct scope {
        detail::key_frame* saved;
        detail::key_frame* node;
        ~scope() {
            detail::ctx.keys = saved;
            detail::release_keys(node);
        }
    } sc{detail::ctx.keys, node};
    detail::ctx.keys = node;
    return detail::invoke_keeping(std::forward<F>(f));
}
template <class T, class U, class F>
    requires(!std::is_same_v<std::decay_t<U>, std::optional<T>> && !std::is_same_v<std::decay_t<U>, std::nullopt_t> &&
             std::is_constructible_v<T, U &&>)
decltype(auto) with_value(const key<T>& k, U&& v, F&& f) {
    return with_value(k, std::optional<T>(std::in_place, std::forward<U>(v)), std::forward<F>(f));
}
template <class T, class F>
decltype(auto) with_value(const key<T>& k, std::nullopt_t, F&& f) {
    return with_value(k, std::optional<T>(), std::forward<F>(f));
}

}  // namespace lwt
