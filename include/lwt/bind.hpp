// Bind style (the compatibility header): Lwt's bind, map, catch, try_bind, finalize and
// Lwt.Infix's >>=, for code ported from Lwt. Each is a coroutine that keeps the callables it
// was given in its frame (alive until the result settles), restores the key values current
// at the call when running them (docs/semantics.md rule 10), turns their exceptions into rejections (rule 5),
// and forwards cancellation to what it currently waits on (rule 6).
#pragma once

#include <lwt/promise.hpp>

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

namespace lwt {

namespace detail {

// The result of calling a value callback of a promise<T>: f(const T&), or f() for void.
template <class F, class T>
struct callback_result {
    using type = std::invoke_result_t<F&, const T&>;
};
template <class F>
struct callback_result<F, void> {
    using type = std::invoke_result_t<F&>;
};
template <class F, class T>
using callback_result_t = typename callback_result<F, T>::type;

template <class F, class T>
decltype(auto) call_with_value(F& f, const promise<T>& p) {
    if constexpr (std::is_void_v<T>)
        return std::invoke(f);
    else
        return std::invoke(f, p.value());
}

template <class U, class T, class F>
promise<U> bind_impl(promise<T> p, F f) {
    co_await settled(p);
    co_return co_await call_with_value(f, p);
}

template <class U, class T, class F>
promise<U> map_impl(promise<T> p, F f) {
    co_await settled(p);
    if constexpr (std::is_void_v<U>)
        call_with_value(f, p);
    else
        co_return call_with_value(f, p);
}

template <class T, class F, class H>
promise<T> catch_impl(F f, H h) {
    std::exception_ptr e;
    try {
        co_return co_await std::invoke(f);
    } catch (...) {
        e = std::current_exception();
    }
    co_return co_await std::invoke(h, std::move(e));
}

template <class U, class T, class F, class G, class H>
promise<U> try_bind_impl(F f, G on_value, H on_exn) {
    std::exception_ptr e;
    std::optional<promise<T>> p;
    try {
        p.emplace(std::invoke(f));
        co_await settled(*p);
    } catch (...) {
        e = std::current_exception();
    }
    if (e) co_return co_await std::invoke(on_exn, std::move(e));
    co_return co_await call_with_value(on_value, *p);
}

template <class T, class F, class C>
promise<T> finalize_impl(F f, C cleanup) {
    std::exception_ptr e;
    std::optional<promise<T>> p;
    try {
        p.emplace(std::invoke(f));
        co_await settled(*p);
    } catch (...) {
        e = std::current_exception();
    }
    co_await std::invoke(cleanup);  // the cleanup's failure wins
    if (e) std::rethrow_exception(e);
    co_return co_await std::move(*p);
}

}  // namespace detail

// Lwt.bind p f: when p is fulfilled, f(value) (f() for promise<void>) gives the result's
// promise; p's rejection skips f.
template <class T, class F>
auto bind(promise<T> p, F f) {
    using R = lwt::detail::as_promise_t<detail::callback_result_t<F, T>>;
    static_assert(detail::is_promise_v<R>, "lwt::bind: the callback must return an lwt::promise");
    return detail::bind_impl<detail::promise_value_t<R>>(std::move(p), std::move(f));
}

// Lwt.map f p: f(value) gives the result's value (a void f gives promise<void>).
template <class F, class T>
auto map(F f, promise<T> p) {
    using R = detail::callback_result_t<F, T>;
    static_assert(!detail::is_promise_v<R>, "lwt::map: the callback returns a plain value (use bind for promises)");
    return detail::map_impl<R>(std::move(p), std::move(f));
}

// Lwt.catch f h: f()'s promise, or h(exception)'s if it (or f itself) fails.
template <class F, class H>
auto catch_(F f, H h) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
    static_assert(detail::is_promise_v<R>, "lwt::catch_: f must return an lwt::promise");
    return detail::catch_impl<detail::promise_value_t<R>>(std::move(f), std::move(h));
}

// Lwt.try_bind f g h: g(value) if f()'s promise is fulfilled, h(exception) if it fails.
template <class F, class G, class H>
auto try_bind(F f, G on_value, H on_exn) {
    using P = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
    static_assert(detail::is_promise_v<P>, "lwt::try_bind: f must return an lwt::promise");
    using T = detail::promise_value_t<P>;
    using R = lwt::detail::as_promise_t<detail::callback_result_t<G, T>>;
    return detail::try_bind_impl<detail::promise_value_t<R>, T>(std::move(f), std::move(on_value), std::move(on_exn));
}

// Lwt.finalize f c: runs c() once f()'s promise settles, then gives f()'s outcome -- unless
// c fails, whose failure wins.
template <class F, class C>
auto finalize(F f, C cleanup) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
    static_assert(detail::is_promise_v<R>, "lwt::finalize: f must return an lwt::promise");
    return detail::finalize_impl<detail::promise_value_t<R>>(std::move(f), std::move(cleanup));
}

// bind and map on an operation that converts to a promise (lwt::unix_::read(...), ...).
template <detail::converts_to_promise A, class F>
auto bind(A&& a, F f) {
    return lwt::bind(detail::as_promise_t<A>(std::forward<A>(a)), std::move(f));
}
template <class F, detail::converts_to_promise A>
auto map(F f, A&& a) {
    return lwt::map(std::move(f), detail::as_promise_t<A>(std::forward<A>(a)));
}

// Lwt.Infix. C++'s >>= is right-associative: bracket chains, (p >>= f) >>= g.
namespace infix {
template <class T, class F>
auto operator>>=(promise<T> p, F f) {
    return lwt::bind(std::move(p), std::move(f));
}
template <detail::converts_to_promise A, class F>
auto operator>>=(A&& a, F f) {
    return lwt::bind(std::forward<A>(a), std::move(f));
}
}  // namespace infix

}  // namespace lwt
