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

}  // namespace lwt::engine
