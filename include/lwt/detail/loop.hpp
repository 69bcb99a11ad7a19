// What the core offers the main loop: the queue of pause() promises (rule 9). The loop wakes
// them once per iteration, after the iteration's completions.
#pragma once

#include <lwt/detail/state.hpp>

namespace lwt::detail {

struct pause_node final : state<void>, pooled {
    pause_node* next = nullptr;
};

// Fulfils, in FIFO order, every pause() promise created before the call; pauses created
// while they run wait for the next call.
LWT_EXPORT void wake_paused() noexcept;

LWT_INLINE bool has_paused() noexcept { return ctx.pause_head != nullptr; }

}  // namespace lwt::detail
