// Lwt_direct: direct-style tasks. `co_await` is Lwt_direct.await.
#pragma once

#include <lwt/promise.hpp>

#include <type_traits>
#include <utility>

namespace lwt::detail {

// The cell of a spawned task. It waits in the next-iteration queue (FIFO with pauses), then
// calls f under the key values current at the spawn call and follows f()'s promise. It owns
// f: while f()'s promise is pending the cell retains itself, so f and its captures live until
// the task ends even if nobody holds the task's promise. Cancelled before it starts, the cell
// is rejected with lwt::canceled at once and f never runs; once started, cancel forwards to
// f()'s promise (docs/semantics.md rule 11).
template <class T, class F>
struct spawn_cell final : cell<T>, pause_link, waiter, pooled {
    F f;
    key_frame* keys;
    cell<T>* inner = nullptr;  // f()'s promise once started (retained)

    template <class G>
    explicit spawn_cell(G&& g) : waiter(&follow), f(std::forward<G>(g)), keys(retain_keys(ctx.keys)) {
        this->cancel_fn = &cancel_task;
        this->destroy_fn = &destroy;
        this->wake = &start;
        this->refs = 2;  // the promise returned and the queue
        enqueue_pause(this);
    }
    ~spawn_cell() {
        if (inner != nullptr) release(inner);
        release_keys(keys);
    }

    static void start(pause_link* l) noexcept {
        auto* c = static_cast<spawn_cell*>(l);
        if (c->pending()) {
            try {
                keys_scope k(c->keys);
                auto p = c->f();
                c->inner = state_of(p);
                retain(c->inner);
            } catch (...) {
                c->set_rejected(std::current_exception());
            }
            if (c->inner == nullptr) {
                run_waiters(c);
            } else if (c->inner->pending()) {
                retain(c);  // released by `follow`: f lives as long as its promise is pending
                c->inner->link(static_cast<waiter*>(c));
            } else {
                transfer_outcome(c->inner, static_cast<cell<T>*>(c));
                run_waiters(c);
            }
        }
        release(c);  // the queue's reference
    }
    static void follow(waiter* w, cell_base* settled) noexcept {
        auto* c = static_cast<spawn_cell*>(w);
        if (settled == nullptr) return;  // unreachable: `inner` is retained
        if (c->pending()) {
            transfer_outcome(c->inner, static_cast<cell<T>*>(c));
            settle(c, false);
        }
        release(c);
    }
    static void cancel_task(cancelable* self, cancel_walk& w, cell_base*) {
        auto* c = static_cast<spawn_cell*>(static_cast<cell_base*>(self));
        if (!c->pending()) return;
        if (c->inner == nullptr)
            w.leaf(self, c, nullptr);  // not started: rejected at once, f never runs
        else
            w.visit(c->inner, nullptr);
    }
    static void destroy(cell_base* s) noexcept { delete static_cast<spawn_cell*>(s); }
};

}  // namespace lwt::detail

namespace lwt::direct {

// Lwt_direct.spawn: runs f() as a task on the next loop iteration, seeing the key values
// current now. Cancelling the returned promise reaches the task.
template <class F>
auto spawn(F&& f) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<std::decay_t<F>&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::direct::spawn: f must return an lwt::promise");
    using T = lwt::detail::promise_value_t<R>;
    using spawned = lwt::detail::spawn_cell<T, std::decay_t<F>>;
    return lwt::detail::adopt<T>(static_cast<lwt::detail::cell<T>*>(new spawned(std::forward<F>(f))));
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
