// Lwt_preemptive: blocking work on a bounded pool of system threads.
//
// detach(f, args...) runs f(args...) on a worker thread and resolves, on the calling thread's
// loop, with its result (or its exception). run_in_main(f), called on a worker, runs f on the
// loop of the thread that detached the current job and waits for it. Everything crossing
// threads goes through the loop's inbox (see detail/engine.hpp): the loop is woken by an
// eventfd, never polled.
#pragma once

#include <lwt/detail/engine.hpp>
#include <lwt/promise.hpp>

#include <exception>
#include <functional>
#include <future>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace lwt::detail {

// A job: work() runs on a worker; the loop side (inbox_item::run) delivers the outcome.
struct LWT_EXPORT worker_job : inbox_item {
    io_engine* owner = nullptr;
    virtual void work() noexcept = 0;
    virtual ~worker_job() = default;
};

// Queues j on the pool (counts it as outstanding on its owner's loop).
LWT_EXPORT void submit_job(worker_job* j);

template <class R, class Fn>
struct detached final : worker_job {
    Fn fn;
    outcome_of<R> outcome;
    cell<R>* target;

    detached(Fn f, cell<R>* c) : fn(std::move(f)), target(c) {
        run = [](inbox_item* it) noexcept {
            auto* self = static_cast<detached*>(it);
            self->owner->jobs_outstanding.fetch_sub(1, std::memory_order_release);
            cell<R>* c = self->target;
            settle_with(c, self->outcome);
            release(c);
            delete self;
        };
    }
    void work() noexcept override {
        try {
            if constexpr (std::is_void_v<R>) {
                fn();
                outcome.value.emplace(true);
            } else {
                outcome.value.emplace(fn());
            }
        } catch (...) {
            outcome.error = std::current_exception();
        }
    }
};

}  // namespace lwt::detail

namespace lwt::preemptive {

// Lwt_preemptive.detach: f(args...) on a worker thread; the promise resolves on this thread's
// loop. The arguments are copied (or moved) to the worker. Not cancelable (the call cannot be
// interrupted); the result of a call that finishes after nobody waits is dropped.
template <class F, class... A>
auto detach(F&& f, A&&... args) {
    using R = std::invoke_result_t<std::decay_t<F>, std::decay_t<A>...>;
    auto bound = [f = std::forward<F>(f), tup = std::make_tuple(std::forward<A>(args)...)]() mutable -> R {
        return std::apply(f, std::move(tup));
    };
    auto w = lwt::wait<R>();
    auto* cell = w.second.cell();
    lwt::detail::retain(cell);
    auto* j = new lwt::detail::detached<R, decltype(bound)>(std::move(bound), cell);
    lwt::detail::submit_job(j);
    return w.first;
}

// Lwt_preemptive.run_in_main: from a worker running a detached job, runs f() on the loop that
// detached the job (with loops::run, that loop -- "main" is the caller's loop, not loop 0) (f may return a promise, which is awaited) and returns its result or
// rethrows its exception. Throws std::logic_error when not called from a worker.
LWT_EXPORT void run_in_main_raw(std::function<void(std::function<void(std::exception_ptr)>)> start);

}  // namespace lwt::preemptive

namespace lwt::preemptive {

template <class F>
auto run_in_main(F&& f) {
    using R0 = std::invoke_result_t<std::decay_t<F>&>;
    constexpr bool is_p = lwt::detail::is_promise_v<R0>;
    using R = typename detail::awaited<R0, is_p>::type;
    std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> out;
    std::decay_t<F> fn(std::forward<F>(f));
    // `start` runs on the loop thread; it must call `done` exactly once (on the loop thread).
    run_in_main_raw([&](std::function<void(std::exception_ptr)> done) {
        if constexpr (is_p) {
            auto p = fn();
            lwt::on_any(
                p,
                [&out, done](const auto&... v) {
                    if constexpr (std::is_void_v<R>)
                        out.emplace(true);
                    else
                        out.emplace(v...);
                    done(nullptr);
                },
                [done](std::exception_ptr e) { done(e); });
        } else if constexpr (std::is_void_v<R>) {
            fn();
            out.emplace(true);
            done(nullptr);
        } else {
            out.emplace(fn());
            done(nullptr);
        }
    });
    if constexpr (!std::is_void_v<R>) return std::move(*out);
}

// Lwt_preemptive.set_bounds: at least `min` and at most `max` worker threads (max >= 1).
LWT_EXPORT void set_bounds(int min, int max);
LWT_EXPORT std::pair<int, int> get_bounds();
// Number of worker threads currently alive.
LWT_EXPORT int thread_count();

}  // namespace lwt::preemptive
