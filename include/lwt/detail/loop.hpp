// What the core offers the main loop: the queue of work for the next iteration (docs/semantics.md rule 9) --
// pause() promises and spawned tasks waiting to start. The loop wakes them once per
// iteration, after the iteration's completions.
#pragma once

#include <lwt/detail/state.hpp>

namespace lwt::detail {

// An entry of the next-iteration queue. The queue holds a reference to the cell that owns the
// entry until `wake` has run; a cancelled entry stays queued and its wake does nothing.
struct pause_link {
    pause_link* next = nullptr;
    void (*wake)(pause_link*) noexcept = nullptr;
};

LWT_INLINE void enqueue_pause(pause_link* l) noexcept {
    if (ctx.pause_tail != nullptr)
        ctx.pause_tail->next = l;
    else
        ctx.pause_head = l;
    ctx.pause_tail = l;
    ++ctx.paused;
}

// The cell of a pause() promise: a cancelable leaf fulfilled by the next iteration.
struct pause_node final : cell<void>, pause_link, pooled {
    pause_node() noexcept {
        cancel_fn = &cancel_as_leaf;
        destroy_fn = [](cell_base* s) noexcept { delete static_cast<pause_node*>(s); };
        wake = [](pause_link* l) noexcept {
            auto* p = static_cast<pause_node*>(l);
            if (p->pending()) {
                p->set_value();
                run_waiters(p);
            }
            release(p);  // the queue's reference
        };
        refs = 2;  // the promise returned and the queue
        enqueue_pause(this);
    }
};

// Runs, in FIFO order, every entry queued before the call; entries queued meanwhile wait for
// the next call. Each entry's waiters run as an outermost resolution would (what they defer
// is drained before the next entry).
LWT_EXPORT void wake_paused() noexcept;

LWT_INLINE bool has_paused() noexcept { return ctx.pause_head != nullptr; }

}  // namespace lwt::detail
