// Lwt_unix.on_signal: signal handlers that run on a loop.
#pragma once

#include <lwt/detail/config.hpp>

#include <cstdint>
#include <functional>

namespace lwt::unix_ {

// Lwt_unix.on_signal: f(signum) is called on this thread's loop each time the signal
// arrives, until the handler is disabled. While a handler exists, run() keeps waiting.
// With loops::run, a handler runs on the loop that installed it; several loops may each
// install one for the same signal, and each is called on its own loop.
struct signal_handler_id {
    std::uint64_t id = 0;
};
LWT_EXPORT signal_handler_id on_signal(int signum, std::function<void(int)> f);
LWT_EXPORT void disable_signal_handler(signal_handler_id id);

}  // namespace lwt::unix_

namespace lwt::detail {
// As on_signal, but the handler does not keep run() waiting (main::dump_on_signal: a
// diagnostic must not turn rule 16's error into a hang).
LWT_EXPORT unix_::signal_handler_id on_signal_in_background(int signum, std::function<void(int)> f);
}  // namespace lwt::detail
