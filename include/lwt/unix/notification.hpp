// Lwt_unix's notifications: a function on a loop that any thread may trigger.
#pragma once

#include <lwt/detail/config.hpp>

#include <functional>

namespace lwt::unix_ {

// Lwt_unix.make_notification: an id that any thread may send; f runs on this thread's loop
// (once per sending, or only once if `once`). While registered, run() keeps waiting.
LWT_EXPORT int make_notification(std::function<void()> f, bool once = false);
// Thread-safe and async-signal-unsafe; unknown ids are ignored.
LWT_EXPORT void send_notification(int id);
LWT_EXPORT void stop_notification(int id);

}  // namespace lwt::unix_
