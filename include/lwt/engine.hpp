// Lwt_engine: which engine drives this thread's loop, and what it has in flight.
#pragma once

#include <lwt/detail/config.hpp>

#include <cstddef>
#include <string_view>

namespace lwt::engine {

// "uring" (the io_uring proactor) or "epoll" (the reactor used where io_uring cannot be set
// up, or with LWT_ENGINE=epoll). Creates this thread's engine if it does not exist yet.
LWT_EXPORT std::string_view id();

// Operations (I/O in flight or parked), pending timers, and worker jobs that will report
// to this thread's loop. 0 when the thread has no engine.
LWT_EXPORT std::size_t live_operations() noexcept;
LWT_EXPORT std::size_t pending_timers() noexcept;
// Receive buffers of this loop's pool (unix_::recv_chunk) lent now: held by chunks, or
// holding bytes nobody has received yet. 0 when no socket has data waiting and no chunk is kept.
LWT_EXPORT std::size_t receive_buffers_lent() noexcept;
// Whether a receive into this loop's buffers can take several buffers in one completion
// (io_uring bundles: kernel 6.10 or later; LWT_URING_NO_BUNDLE=1 turns them off), and how many
// completions have done so. The bytes still come as one chunk per buffer, in order.
LWT_EXPORT bool receives_bundled();
LWT_EXPORT std::size_t bundled_receives() noexcept;
// Whether receives share buffers: the kernel fills a buffer a receive at a time, whichever
// socket it is for, so small messages do not take a buffer each (io_uring's incremental
// consumption: kernel 6.12 or later, buffers under 64 KiB; LWT_URING_NO_INC=1 turns it off).
// A chunk then keeps its whole buffer lent until every chunk of that buffer is released.
// receives_bundled and receive_buffers_shared create this thread's engine and its pool if
// they do not exist yet.
LWT_EXPORT bool receive_buffers_shared();

}  // namespace lwt::engine
