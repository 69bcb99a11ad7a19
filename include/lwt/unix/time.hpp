// Lwt_unix's time: sleep, timeout, with_timeout. A duration is seconds as a double (Lwt
// style) or any std::chrono::duration; timers run on this thread's engine (CLOCK_MONOTONIC).
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

namespace lwt::detail {
LWT_EXPORT std::int64_t seconds_to_ns(double s, const char* who);
template <class D>
std::int64_t to_ns(D d, const char* who) {
    if constexpr (std::is_arithmetic_v<D>) {
        return seconds_to_ns(static_cast<double>(d), who);
    } else {
        auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
        if (ns < 0) return seconds_to_ns(-1.0, who);
        return ns;
    }
}
LWT_EXPORT promise<void> sleep_ns(std::int64_t ns);
LWT_EXPORT promise<void> timeout_ns(std::int64_t ns);
template <class T>
promise<T> timeout_as(promise<void> p) {
    co_await std::move(p);  // always rejected with timeout_error (or cancelled)
    throw unix_::timeout_error();
}
}  // namespace lwt::detail

namespace lwt::unix_ {

template <class D>
concept duration_like = std::is_arithmetic_v<D> || requires(D d) { std::chrono::duration_cast<std::chrono::nanoseconds>(d); };

// Lwt_unix.sleep: resolves no earlier than d after the call (CLOCK_MONOTONIC); cancelable.
// A negative or NaN duration throws std::invalid_argument.
template <duration_like D>
promise<void> sleep(D d) {
    return detail::sleep_ns(detail::to_ns(d, "sleep"));
}

// Lwt_unix.timeout: rejected with timeout_error after d.
template <class T = void, duration_like D>
promise<T> timeout(D d) {
    auto ns = detail::to_ns(d, "timeout");
    if constexpr (std::is_void_v<T>)
        return detail::timeout_ns(ns);
    else
        return detail::timeout_as<T>(detail::timeout_ns(ns));
}

// Lwt_unix.with_timeout: pick({timeout<T>(d), f()}); f's synchronous throw becomes the
// rejection, and f is kept alive until its promise settles.
template <duration_like D, class F>
auto with_timeout(D d, F&& f) {
    using R = detail::as_promise_t<std::invoke_result_t<std::decay_t<F>&>>;
    static_assert(detail::is_promise_v<R>, "lwt::unix_::with_timeout: f must return an lwt::promise");
    using T = detail::promise_value_t<R>;
    auto t = timeout<T>(d);
    auto p = detail::invoke_to_promise(std::forward<F>(f));
    return lwt::pick(t, p);
}

}  // namespace lwt::unix_
