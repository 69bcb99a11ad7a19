// What the rooms of lwt::unix_ share (private to the library): argument checks, how errors
// name their argument, and the result of a finished operation.
#pragma once

#include <lwt/detail/engine.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/unix/error.hpp>

#include <fmt/core.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace lwt::detail {

inline std::string quoted(const std::string& s) { return fmt::format("\"{}\"", s); }
inline std::string fd_str(int fd) { return std::to_string(fd); }

// The result of a finished operation: >= 0, or the failure thrown. `owns_result`: the result
// is a descriptor that must not leak when the operation was cancelled after it succeeded.
std::int32_t result_slow(const io_result& op, const char* call, const std::string& arg, bool owns_result);

inline void check_path(const std::string& path, const char* call) {
    if (path.find('\0') != std::string::npos)
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: path contains a NUL byte", call));
}

inline void check_buffer(const void* buf, std::size_t len, const char* call) {
    if (buf == nullptr && len > 0)
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: null buffer of length {}", call, len));
}

// Linux transfers at most this much in one read or write.
inline std::uint32_t clamp_len(std::size_t len) noexcept {
    constexpr std::size_t max = 0x7ffff000;
    return static_cast<std::uint32_t>(len < max ? len : max);
}

[[noreturn]] inline void throw_errno(const char* call, const std::string& arg) {
    throw unix_::unix_error(errno, call, arg);
}

// The flags of a new socket: close-on-exec, and non-blocking where the engine wants it.
inline int cloexec_flags(int base) {
    return base | SOCK_CLOEXEC | (io_engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0);
}

// A call that may block on a slow disk, made on the worker pool: `call()` makes the system
// call and gives its result (-1 with errno: unix_error naming `name` and `arg`; EINTR: made
// again). Not cancelable, as any worker job.
template <class F>
promise<void> on_worker(const char* name, std::string arg, F call) {
    return preemptive::detach([name, arg = std::move(arg), call]() {
        int r;
        do r = call();
        while (r < 0 && errno == EINTR);
        if (r < 0) throw unix_::unix_error(errno, name, arg);
    });
}

// A process-wide table of entries that belong to loops (signal handlers, notifications):
// created on first use and never destroyed (the signal dispatcher thread may use it until the
// process ends). `Registry::purge(e)` drops an engine's entries at the start of its teardown,
// on its thread, so that nothing is ever posted to a dead loop.
template <class Registry>
Registry& loop_registry() {
    static Registry* r = [] {
        auto* x = new Registry();
        add_engine_teardown_hook([](io_engine* e) { loop_registry<Registry>().purge(e); });
        return x;
    }();
    return *r;
}

}  // namespace lwt::detail
