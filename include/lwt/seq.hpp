// Lwt_seq: an asynchronous sequence, written as a lazily pulled coroutine generator.
//
//   lwt::seq<int> numbers(int n) {
//       for (int i = 0; i < n; ++i) {
//           co_await lwt::unix_::sleep(0.001);  // it may await promises...
//           co_yield i;                          // ...and yields values
//       }
//   }
//   auto s = numbers(3);
//   while (auto v = co_await s.next()) use(*v);
//
// Nothing runs until next() is called; each next() runs the body to its next co_yield (or
// its end: std::nullopt; or its failure: the rejection). One next() at a time (a second
// while one is pending is std::logic_error). Cancelling a pending next() cancels what the
// body awaits; a body that does not catch lwt::canceled ends, and that next() rejects with
// it -- no yielded value is ever dropped. A seq is move-only; destroying it while its body is
// suspended on a pending promise lets the body finish that wait, then frees it.
#pragma once

#include <lwt/detail/iter_n.hpp>
#include <lwt/promise.hpp>

#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt {

template <class T>
class seq {
public:
    struct promise_type;
    using handle = std::coroutine_handle<promise_type>;

    // The promise of a next() that waits for the body: cancelling it forwards to what the
    // body is suspended on, as cancelling a coroutine's promise does (docs/semantics.md rule 7). The body then
    // decides: a co_yield fulfils the next(), a failure (lwt::canceled, uncaught) rejects it.
    struct next_cell final : detail::cell<std::optional<T>>, detail::pooled {
        promise_type* body;  // valid while the cell is pending: the frame outlives it

        explicit next_cell(promise_type* b) noexcept : body(b) {
            this->destroy_fn = [](detail::cell_base* s) noexcept { delete static_cast<next_cell*>(s); };
            this->cancel_fn = &forward;
        }
        static void forward(detail::cancelable* self, detail::cancel_walk& w, detail::cell_base*) {
            auto* c = static_cast<next_cell*>(static_cast<detail::cell_base*>(self));
            if (c->pending() && c->body->awaiting != nullptr) w.visit(c->body->awaiting, c);
        }
    };

    struct promise_type : detail::coro_common {
        std::optional<T> current;    // yielded, not yet handed out
        next_cell* waiting = nullptr;  // the next() waiting for it (one reference)
        std::exception_ptr error;
        bool done = false;
        bool abandoned = false;  // the seq is gone: free the frame at the next suspension

        static void* operator new(std::size_t n) { return detail::pool_alloc(n); }
        static void operator delete(void* p, std::size_t n) noexcept { detail::pool_free(p, n); }

        seq get_return_object() noexcept { return seq(handle::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }

        // At a co_yield or the end, with a next() waiting (the body had suspended on a
        // promise meanwhile): settles it. The frame is freed first when the seq is gone, and
        // is not touched after the settlement (its waiters may pull again, or drop the seq).
        static void hand_over(handle h) noexcept {
            promise_type& p = h.promise();
            next_cell* c = std::exchange(p.waiting, nullptr);
            std::optional<T> v;
            if (p.current) v.emplace(std::move(*p.current));
            p.current.reset();
            std::exception_ptr e = p.done ? std::exchange(p.error, nullptr) : nullptr;
            if (p.abandoned) h.destroy();
            if (c == nullptr) return;
            if (e)
                detail::reject_cell(c, true, std::move(e));
            else
                detail::resolve_cell(static_cast<detail::cell<std::optional<T>>*>(c), true, std::move(v));
            detail::release(c);
        }

        struct yield_awaiter {
            bool await_ready() const noexcept { return false; }
            void await_suspend(handle h) noexcept {
                promise_type& p = h.promise();
                if (p.waiting != nullptr || p.abandoned) hand_over(h);
            }
            void await_resume() const noexcept {}
        };
        template <class U = T>
            requires std::is_constructible_v<T, U&&>
        yield_awaiter yield_value(U&& v) {
            current.emplace(std::forward<U>(v));
            return {};
        }

        struct final_awaiter {
            bool await_ready() const noexcept { return false; }
            void await_suspend(handle h) noexcept {
                promise_type& p = h.promise();
                p.done = true;
                if (p.waiting != nullptr || p.abandoned) hand_over(h);
            }
            void await_resume() const noexcept {}
        };
        final_awaiter final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { error = std::current_exception(); }
    };

    seq(seq&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
    seq& operator=(seq&& o) noexcept {
        if (this != &o) {
            reset();
            h_ = std::exchange(o.h_, nullptr);
        }
        return *this;
    }
    seq(const seq&) = delete;
    seq& operator=(const seq&) = delete;
    ~seq() { reset(); }

    // The next value (running the body up to its next co_yield), or std::nullopt at the end.
    promise<std::optional<T>> next() {
        if (!h_) throw std::logic_error("lwt::seq::next: moved-from sequence");
        promise_type& p = h_.promise();
        if (p.waiting != nullptr) throw std::logic_error("lwt::seq::next: a next() is already pending");
        if (p.done) {
            if (p.error) return fail<std::optional<T>>(std::exchange(p.error, nullptr));
            return lwt::return_(std::optional<T>());
        }
        {
            detail::keys_scope k(p.keys);
            h_.resume();
        }
        if (p.current) {
            std::optional<T> v(std::move(*p.current));
            p.current.reset();
            return lwt::return_(std::move(v));
        }
        if (p.done) {
            if (p.error) return fail<std::optional<T>>(std::exchange(p.error, nullptr));
            return lwt::return_(std::optional<T>());
        }
        // The body waits on a promise: so do we.
        auto* c = new next_cell(&p);
        c->refs = 2;  // the promise returned, and p.waiting
        p.waiting = c;
        return detail::adopt<std::optional<T>>(static_cast<detail::cell<std::optional<T>>*>(c));
    }

    // ---- building (Lwt_seq's names) ----

    // Lwt_seq.empty, return, return_lwt: no element; one element; the value of a promise.
    static seq empty() { co_return; }
    static seq return_(T v) { co_yield std::move(v); }
    static seq return_lwt(promise<T> p) { co_yield co_await std::move(p); }
    // Lwt_seq.cons, cons_lwt: x (or p's value, awaited when pulled), then s's elements.
    static seq cons(T x, seq s) { return return_(std::move(x)).append(std::move(s)); }
    static seq cons_lwt(promise<T> p, seq s) { return return_lwt(std::move(p)).append(std::move(s)); }
    // Lwt_seq.of_list (of_vector is the same).
    static seq of_vector(std::vector<T> v) {
        for (auto& x : v) co_yield std::move(x);
    }
    static seq of_list(std::vector<T> v) { return of_vector(std::move(v)); }
    // Lwt_seq.unfold / unfold_lwt: f(state) gives std::optional<std::pair<T, S>> (for
    // unfold, directly or as a promise; for unfold_lwt, as a promise); std::nullopt ends.
    template <class F, class S>
    static seq unfold(F f, S state) {
        for (;;) {
            auto next = co_await detail::invoke_to_promise([&f, &state] {
                if constexpr (detail::promise_like_v<std::invoke_result_t<F&, S&>>)
                    return f(state);
                else
                    return lwt::return_(f(state));
            });
            if (!next) co_return;
            state = std::move(next->second);
            co_yield std::move(next->first);
        }
    }
    template <class F, class S>
        requires detail::is_promise_v<std::invoke_result_t<F&, S&>>
    static seq unfold_lwt(F f, S state) {
        return unfold(std::move(f), std::move(state));
    }

    // ---- combinators (each a sequence of its own, pulling from this one) ----

    // Lwt_seq.append: this sequence's elements, then other's.
    seq append(seq other) && { return append_impl(std::move(*this), std::move(other)); }
    template <class F>
    auto map(F f) && -> seq<std::invoke_result_t<F&, T>> {
        return map_impl(std::move(*this), std::move(f));
    }
    // Lwt_seq.map_s: f gives a promise; each is awaited before the next element is pulled.
    template <class F>
    auto map_s(F f) && -> seq<detail::promise_value_t<std::invoke_result_t<F&, T>>> {
        return map_s_impl(std::move(*this), std::move(f));
    }
    template <class F>
    seq filter(F p) && {
        return filter_impl(std::move(*this), std::move(p));
    }
    // Lwt_seq.filter_s: p gives promise<bool>.
    template <class F>
    seq filter_s(F p) && {
        return filter_s_impl(std::move(*this), std::move(p));
    }
    // Lwt_seq.filter_map: f gives std::optional<U>; filter_map_s: a promise of one.
    template <class F>
    auto filter_map(F f) && -> seq<typename std::invoke_result_t<F&, T>::value_type> {
        return filter_map_impl(std::move(*this), std::move(f));
    }
    template <class F>
    auto filter_map_s(F f) && -> seq<typename detail::promise_value_t<std::invoke_result_t<F&, T>>::value_type> {
        return filter_map_s_impl(std::move(*this), std::move(f));
    }
    // Lwt_seq.flat_map: f gives a seq<U> for each element; their elements, in order.
    template <class F>
    auto flat_map(F f) && -> std::invoke_result_t<F&, T> {
        return flat_map_impl(std::move(*this), std::move(f));
    }
    seq take(std::size_t n) && { return take_impl(std::move(*this), n); }

    // Consuming the sequence.
    promise<std::vector<T>> to_vector() && { return to_vector_impl(std::move(*this)); }
    promise<std::vector<T>> to_list() && { return to_vector_impl(std::move(*this)); }
    template <class F>
    promise<void> iter(F f) && {
        return iter_impl(std::move(*this), std::move(f));
    }
    template <class F>
    promise<void> iter_s(F f) && {
        return iter_s_impl(std::move(*this), std::move(f));
    }
    // Lwt_seq.iter_p: f(element) started on each element as it is pulled, without waiting
    // for the previous ones; waits for all (the first failure wins, once all have settled).
    // iter_n: at most max_concurrency (>= 1) running at once.
    template <class F>
    promise<void> iter_p(F f) && {
        return std::move(*this).iter_n(std::move(f), static_cast<std::size_t>(-1));
    }
    template <class F>
    promise<void> iter_n(F f, std::size_t max_concurrency) && {
        if (max_concurrency == 0) throw std::invalid_argument("lwt::seq::iter_n: max_concurrency must be positive");
        return detail::iter_n_pulled([s = std::move(*this)]() mutable { return s.next(); }, std::move(f),
                                     max_concurrency);
    }
    // Lwt_seq.fold_left f init s: f(acc, element) in order; fold_left_s: f gives a promise.
    template <class F, class A>
    promise<A> fold_left(F f, A init) && {
        return fold_impl(std::move(*this), std::move(f), std::move(init));
    }
    template <class F, class A>
    promise<A> fold_left_s(F f, A init) && {
        return fold_s_impl(std::move(*this), std::move(f), std::move(init));
    }

private:
    template <class U>
    friend class seq;
    explicit seq(handle h) noexcept : h_(h) {}

    void reset() noexcept {
        if (!h_) return;
        promise_type& p = h_.promise();
        if (p.waiting != nullptr || (!p.done && !p.current && started_and_suspended_on_await(p)))
            p.abandoned = true;  // suspended on a pending promise: freed when that resumes it
        else
            h_.destroy();
        h_ = nullptr;
    }
    static bool started_and_suspended_on_await(const promise_type& p) noexcept { return p.awaiting != nullptr; }

    template <class F>
    static seq<std::invoke_result_t<F&, T>> map_impl(seq s, F f) {
        while (auto v = co_await s.next()) co_yield f(std::move(*v));
    }
    static seq append_impl(seq a, seq b) {
        while (auto v = co_await a.next()) co_yield std::move(*v);
        while (auto v = co_await b.next()) co_yield std::move(*v);
    }
    template <class F>
    static seq<detail::promise_value_t<std::invoke_result_t<F&, T>>> map_s_impl(seq s, F f) {
        while (auto v = co_await s.next()) co_yield co_await f(std::move(*v));
    }
    template <class F>
    static seq filter_s_impl(seq s, F p) {
        while (auto v = co_await s.next())
            if (co_await p(static_cast<const T&>(*v))) co_yield std::move(*v);
    }
    template <class F>
    static seq<typename std::invoke_result_t<F&, T>::value_type> filter_map_impl(seq s, F f) {
        while (auto v = co_await s.next())
            if (auto u = f(std::move(*v))) co_yield std::move(*u);
    }
    template <class F>
    static seq<typename detail::promise_value_t<std::invoke_result_t<F&, T>>::value_type> filter_map_s_impl(seq s, F f) {
        while (auto v = co_await s.next()) {
            auto u = co_await f(std::move(*v));
            if (u) co_yield std::move(*u);
        }
    }
    template <class F>
    static std::invoke_result_t<F&, T> flat_map_impl(seq s, F f) {
        while (auto v = co_await s.next()) {
            auto inner = f(std::move(*v));
            while (auto u = co_await inner.next()) co_yield std::move(*u);
        }
    }
    template <class F>
    static seq filter_impl(seq s, F p) {
        while (auto v = co_await s.next())
            if (p(static_cast<const T&>(*v))) co_yield std::move(*v);
    }
    static seq take_impl(seq s, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            auto v = co_await s.next();
            if (!v) co_return;
            co_yield std::move(*v);
        }
    }
    static promise<std::vector<T>> to_vector_impl(seq s) {
        std::vector<T> out;
        while (auto v = co_await s.next()) out.push_back(std::move(*v));
        co_return out;
    }
    template <class F>
    static promise<void> iter_impl(seq s, F f) {
        while (auto v = co_await s.next()) f(std::move(*v));
    }
    template <class F>
    static promise<void> iter_s_impl(seq s, F f) {
        while (auto v = co_await s.next()) co_await f(std::move(*v));
    }
    template <class F, class A>
    static promise<A> fold_impl(seq s, F f, A acc) {
        while (auto v = co_await s.next()) acc = f(std::move(acc), std::move(*v));
        co_return acc;
    }
    template <class F, class A>
    static promise<A> fold_s_impl(seq s, F f, A acc) {
        while (auto v = co_await s.next()) acc = co_await f(std::move(acc), std::move(*v));
        co_return acc;
    }

    handle h_;
};

}  // namespace lwt
