// A small result type, lwt::result<T, E> (g++ 12 has no std::expected), and helpers in the
// spirit of Lwt_result for promise<result<T, E>> (namespace lwt::result_).
#pragma once

#include <lwt/promise.hpp>

#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

namespace lwt {

template <class E>
struct error_value {
    E e;
};
// lwt::error(e): a value that converts to any result<T, E> holding the error e.
template <class E>
error_value<std::decay_t<E>> error(E&& e) {
    return {std::forward<E>(e)};
}

// Thrown by result::value() on an error (and by result_::get_exn when E is not an exception).
struct LWT_EXPORT bad_result_access : std::logic_error {
    bad_result_access() : std::logic_error("lwt::result: value() of an error") {}
};

template <class T, class E>
class result {
public:
    using value_type = T;
    using error_type = E;

    template <class U = T>
        requires std::is_constructible_v<T, U&&>
    result(U&& v) : v_(std::in_place_index<0>, std::forward<U>(v)) {}
    template <class G>
        requires std::is_constructible_v<E, G&&>
    result(error_value<G> e) : v_(std::in_place_index<1>, std::move(e.e)) {}

    bool ok() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    const T& value() const& {
        if (!ok()) throw bad_result_access();
        return std::get<0>(v_);
    }
    T&& value() && {
        if (!ok()) throw bad_result_access();
        return std::get<0>(std::move(v_));
    }
    const E& error() const& { return std::get<1>(v_); }
    E&& error() && { return std::get<1>(std::move(v_)); }
    template <class U>
    T value_or(U&& d) const& {
        return ok() ? std::get<0>(v_) : T(std::forward<U>(d));
    }

    friend bool operator==(const result& a, const result& b) { return a.v_ == b.v_; }

private:
    std::variant<T, E> v_;
};

// Lwt_result: functions over promise<result<T, E>>.
namespace result_ {

template <class E, class T>
promise<result<std::decay_t<T>, E>> return_(T&& v) {
    return lwt::return_(result<std::decay_t<T>, E>(std::forward<T>(v)));
}
template <class T, class E>
promise<result<T, std::decay_t<E>>> fail(E&& e) {
    return lwt::return_(result<T, std::decay_t<E>>(lwt::error(std::forward<E>(e))));
}

}  // namespace result_

namespace detail {
template <class U, class T, class E, class F>
promise<result<U, E>> result_map(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (!r) co_return lwt::error(std::move(r).error());
    co_return f(std::move(r).value());
}
template <class T, class E, class G, class F>
promise<result<T, G>> result_map_error(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (r) co_return std::move(r).value();
    co_return lwt::error(f(std::move(r).error()));
}
template <class U, class T, class E, class F>
promise<result<U, E>> result_bind(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (!r) co_return lwt::error(std::move(r).error());
    co_return co_await f(std::move(r).value());
}
template <class T, class E>
promise<T> result_get_exn(promise<result<T, E>> p) {
    result<T, E> r = co_await std::move(p);
    if (r) co_return std::move(r).value();
    if constexpr (std::is_base_of_v<std::exception, E>)
        throw std::move(r).error();
    else if constexpr (std::is_same_v<E, std::exception_ptr>)
        std::rethrow_exception(std::move(r).error());
    else
        throw bad_result_access();
}
template <class T>
promise<result<T, std::exception_ptr>> result_catch_(promise<T> p) {
    try {
        co_return co_await std::move(p);
    } catch (...) {
        co_return lwt::error(std::current_exception());
    }
}
template <class T, class E, class G, class F>
promise<result<T, G>> result_bind_error(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (r) co_return std::move(r).value();
    co_return co_await f(std::move(r).error());
}
template <class V, class U, class T, class E, class F>
promise<result<V, E>> result_bind_lwt(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (!r) co_return lwt::error(std::move(r).error());
    if constexpr (std::is_void_v<U>) {
        co_await f(std::move(r).value());
        co_return std::monostate{};
    } else {
        co_return co_await f(std::move(r).value());
    }
}
template <class T, class E, class G, class F>
promise<result<T, G>> result_bind_lwt_error(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if (r) co_return std::move(r).value();
    co_return lwt::error(co_await f(std::move(r).error()));
}
template <bool on_value, class T, class E, class F>
promise<void> result_iter(promise<result<T, E>> p, F f) {
    result<T, E> r = co_await std::move(p);
    if constexpr (on_value) {
        if (r) co_await f(std::move(r).value());
    } else {
        if (!r) co_await f(std::move(r).error());
    }
}
template <class T, class E>
promise<result<T, E>> result_ok(promise<T> p) {
    co_return co_await std::move(p);
}
template <class A, class B, class E>
promise<result<std::pair<A, B>, E>> result_both(promise<result<A, E>> a, promise<result<B, E>> b) {
    auto pair = co_await lwt::both(a, b);
    if (!pair.first) co_return lwt::error(pair.first.error());
    if (!pair.second) co_return lwt::error(pair.second.error());
    co_return std::make_pair(pair.first.value(), pair.second.value());
}
}  // namespace detail

namespace result_ {

// Lwt_result.map f p: f on the value; an error passes through.
template <class F, class T, class E>
auto map(F f, promise<result<T, E>> p) {
    return detail::result_map<std::invoke_result_t<F&, T>>(std::move(p), std::move(f));
}
// Lwt_result.map_error f p: f on the error.
template <class F, class T, class E>
auto map_error(F f, promise<result<T, E>> p) {
    return detail::result_map_error<T, E, std::invoke_result_t<F&, E>>(std::move(p), std::move(f));
}
// Lwt_result.bind p f: f (giving a promise of a result) on the value.
template <class T, class E, class F>
auto bind(promise<result<T, E>> p, F f) {
    using U = typename lwt::detail::promise_value_t<std::invoke_result_t<F&, T>>::value_type;
    return detail::result_bind<U>(std::move(p), std::move(f));
}
// Lwt_result.get_exn: the value, or the error thrown (E an exception type or exception_ptr).
template <class T, class E>
promise<T> get_exn(promise<result<T, E>> p) {
    return detail::result_get_exn(std::move(p));
}
// Lwt_result.catch: a promise's rejection as an error value.
template <class T>
promise<result<T, std::exception_ptr>> catch_(promise<T> p) {
    return detail::result_catch_(std::move(p));
}
// Lwt_result.bind_error p f: f (giving a promise of a result) on the error; a value passes.
template <class T, class E, class F>
auto bind_error(promise<result<T, E>> p, F f) {
    using G = typename lwt::detail::promise_value_t<std::invoke_result_t<F&, E>>::error_type;
    return detail::result_bind_error<T, E, G>(std::move(p), std::move(f));
}
// Lwt_result.bind_lwt p f: f (giving a plain promise) on the value; its value is the result's
// (a promise<void> gives result<std::monostate, E>). A rejection of f's promise stays one.
template <class T, class E, class F>
auto bind_lwt(promise<result<T, E>> p, F f) {
    using U = lwt::detail::promise_value_t<std::invoke_result_t<F&, T>>;
    using V = std::conditional_t<std::is_void_v<U>, std::monostate, U>;
    return detail::result_bind_lwt<V, U>(std::move(p), std::move(f));
}
// Lwt_result.bind_lwt_error p f: f (giving a plain promise) on the error: the new error.
template <class T, class E, class F>
auto bind_lwt_error(promise<result<T, E>> p, F f) {
    using G = lwt::detail::promise_value_t<std::invoke_result_t<F&, E>>;
    return detail::result_bind_lwt_error<T, E, G>(std::move(p), std::move(f));
}
// Lwt_result.iter f p / iter_error f p: f (giving a promise<void>) on the value / the error.
template <class F, class T, class E>
promise<void> iter(F f, promise<result<T, E>> p) {
    return detail::result_iter<true>(std::move(p), std::move(f));
}
template <class F, class T, class E>
promise<void> iter_error(F f, promise<result<T, E>> p) {
    return detail::result_iter<false>(std::move(p), std::move(f));
}
// Lwt_result.lift: a result as a resolved promise of it. ok: a promise's value as a result
// (a rejection stays one: see catch_ for turning it into an error).
template <class T, class E>
promise<result<T, E>> lift(result<T, E> r) {
    return lwt::return_(std::move(r));
}
template <class E, class T>
promise<result<T, E>> ok(promise<T> p) {
    return detail::result_ok<T, E>(std::move(p));
}
// Lwt_result.both: both values, or the first error in argument order (waits for both).
template <class A, class B, class E>
promise<result<std::pair<A, B>, E>> both(promise<result<A, E>> a, promise<result<B, E>> b) {
    return detail::result_both(std::move(a), std::move(b));
}

}  // namespace result_

}  // namespace lwt
