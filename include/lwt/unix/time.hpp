// Lwt_unix's time: sleep, timeout, with_timeout; and beyond Lwt, sleep_until and every. A
// duration is seconds as a double (Lwt style) or any std::chrono::duration; timers run on
// this thread's engine, on CLOCK_MONOTONIC (std::chrono::steady_clock).
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/error.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
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
LWT_EXPORT promise<void> sleep_until_ns(std::int64_t deadline_ns);  // on monotonic_ns()'s clock
LWT_EXPORT std::int64_t monotonic_ns() noexcept;
LWT_EXPORT promise<void> timeout_ns(std::int64_t ns);
// every(): ticks at start + k * period; one that comes too late for some deadlines skips them.
template <class F>
promise<void> every_ns(std::int64_t period, F f) {
    std::int64_t next = monotonic_ns() + period;
    for (;;) {
        co_await sleep_until_ns(next);
        if constexpr (is_promise_v<std::invoke_result_t<F&>>) {
            co_await f();
        } else {
            f();
        }
        next += period;
        if (const std::int64_t now = monotonic_ns(); next <= now) next += ((now - next) / period + 1) * period;
    }
}
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

// Resolves no earlier than t (CLOCK_MONOTONIC: what steady_clock::now() says); a time already
// past resolves at the loop's next iteration. Cancelable. Beyond Lwt (tokio's sleep_until).
inline promise<void> sleep_until(std::chrono::steady_clock::time_point t) {
    return detail::sleep_until_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Calls f every `period`, the first time one period after the call: the k-th call is due at
// the call's time + k * period, however long f and the loop took, so the ticks do not drift.
// f may return a promise, which is awaited before the next tick. A tick that cannot be on time
// (f or the loop busy past a deadline) comes as soon as it can, and the deadlines it missed
// are skipped, not made up in a burst. The promise never fulfils: cancel it to stop (f is
// not called again), or f's failure rejects it. f is kept until then. A period that is not
// positive throws std::invalid_argument. Beyond Lwt (tokio's interval, Seastar's timer).
template <duration_like D, class F>
promise<void> every(D period, F f) {
    const std::int64_t ns = detail::to_ns(period, "every");
    if (ns <= 0) throw std::invalid_argument("lwt::unix_::every: the period must be positive");
    return detail::every_ns(ns, std::move(f));
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
