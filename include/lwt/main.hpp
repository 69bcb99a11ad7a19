// Lwt_main: running the loop of this thread until a promise settles.
#pragma once

#include <lwt/promise.hpp>

#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace lwt::main {

namespace detail {
// Drives this thread's loop until `s` settles (rule 9, rule 16). Throws std::logic_error when
// called from inside a run, or when nothing can settle `s` any more.
LWT_EXPORT void run_until(lwt::detail::state_base* s);
// Marks the thread as running a loop for the scope (nested runs throw std::logic_error).
struct LWT_EXPORT run_scope {
    run_scope();
    ~run_scope();
    run_scope(const run_scope&) = delete;
    run_scope& operator=(const run_scope&) = delete;
};

// The outcome of a settled promise as run returns it: its value (moved out when T cannot be
// copied or nobody else holds p), or its rejection rethrown.
template <class T>
T outcome(promise<T>& p) {
    if constexpr (std::is_void_v<T>) {
        p.value();
    } else {
        const T& v = p.value();
        if constexpr (!std::is_copy_constructible_v<T>)
            return std::move(const_cast<T&>(v));
        else
            return v;
    }
}
}  // namespace detail

// Lwt_main.run p: runs the loop until p settles; returns its value or rethrows. A settled p
// returns without iterating. A move-only value is moved out.
template <class T>
T run(promise<T> p) {
    {
        detail::run_scope scope;
        detail::run_until(lwt::detail::state_of(p));
    }
    return detail::outcome(p);
}

// Lwt_main.run (f ()): calls f inside the run, so f's synchronous work already counts as
// running (a nested run inside f throws). f is kept alive until its promise settles.
template <class F>
    requires std::is_invocable_v<F&>
auto run(F&& f) {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::main::run: f must return an lwt::promise");
    using T = lwt::detail::promise_value_t<R>;
    std::optional<promise<T>> p;
    {
        detail::run_scope scope;
        p.emplace(lwt::detail::invoke_to_promise(std::forward<F>(f)));
        detail::run_until(lwt::detail::state_of(*p));
    }
    return detail::outcome(*p);
}

// Lwt_main.yield: resumes on the next loop iteration (lwt::pause()).
inline promise<void> yield() { return lwt::pause(); }

}  // namespace lwt::main
