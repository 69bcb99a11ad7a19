// Lwt_direct: direct-style tasks. `co_await` is Lwt_direct.await.
#pragma once

#include <lwt/promise.hpp>

#include <type_traits>
#include <utility>

namespace lwt::direct {

namespace detail {
template <class U, class F>
lwt::promise<U> spawn_impl(F f) {
    // Started on the next loop iteration, FIFO with the other pauses; cancelling the task
    // before then cancels this pause, so f never runs and the task is rejected with
    // lwt::canceled at once (rule 11). The frame keeps f alive until the task ends.
    co_await lwt::pause();
    co_return co_await f();
}
}  // namespace detail

// Lwt_direct.spawn: runs f() as a task on the next loop iteration, seeing the key values
// current now. Cancelling the returned promise reaches the task.
template <class F>
auto spawn(F&& f) {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::direct::spawn: f must return an lwt::promise");
    return detail::spawn_impl<lwt::detail::promise_value_t<R>>(std::decay_t<F>(std::forward<F>(f)));
}

// Lwt_direct.spawn_in_the_background: like spawn, for a task nobody awaits; its failure goes
// to lwt::async_exception_hook.
template <class F>
void spawn_in_the_background(F&& f) {
    auto p = spawn(std::forward<F>(f));
    lwt::on_failure(p, [](std::exception_ptr e) { lwt::detail::call_async_exception_hook(std::move(e)); });
}

// Lwt_direct.yield: resumes on the next loop iteration (lwt::pause()).
inline lwt::promise<void> yield() { return lwt::pause(); }

}  // namespace lwt::direct
