// Lwt_io's channels: the two handle types, making them (over a descriptor, a socket, a pipe,
// user functions; the standard channels), their buffers, closing them, and atomic groups.
//
// A channel is a cheap, copyable handle. Operations on one channel are atomic with respect to
// each other: each waits for the ones before it (a per-channel FIFO lock, as in Lwt), and
// atomic(ch, f) holds the channel for a whole group. Using a closed channel rejects with
// io::channel_closed.
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/fd.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

namespace lwt::detail {
struct io_channel;
}  // namespace lwt::detail

namespace lwt {

// End_of_file.
struct LWT_EXPORT end_of_file : std::exception {
    const char* what() const noexcept override;
};

namespace io {

// Lwt_io.Channel_closed.
struct LWT_EXPORT channel_closed : std::exception {
    const char* what() const noexcept override;
};

// Mode tags.
struct input_t {};
struct output_t {};
inline constexpr input_t input{};
inline constexpr output_t output{};

// The default buffer size of new channels (4096 unless changed; at least 16). One value for
// the whole program.
LWT_EXPORT std::size_t default_buffer_size() noexcept;
LWT_EXPORT void set_default_buffer_size(std::size_t n);

class LWT_EXPORT input_channel {
public:
    explicit input_channel(std::shared_ptr<detail::io_channel> c, std::uint64_t group = 0) noexcept
        : c_(std::move(c)), group_(group) {}
    detail::io_channel& impl() const noexcept { return *c_; }
    const std::shared_ptr<detail::io_channel>& shared() const noexcept { return c_; }
    // Non-zero in the handle atomic() gives its function: that group holds the channel.
    std::uint64_t group() const noexcept { return group_; }
    friend bool operator==(const input_channel& a, const input_channel& b) noexcept { return a.c_ == b.c_; }

private:
    std::shared_ptr<detail::io_channel> c_;
    std::uint64_t group_ = 0;
};

class LWT_EXPORT output_channel {
public:
    explicit output_channel(std::shared_ptr<detail::io_channel> c, std::uint64_t group = 0) noexcept
        : c_(std::move(c)), group_(group) {}
    detail::io_channel& impl() const noexcept { return *c_; }
    const std::shared_ptr<detail::io_channel>& shared() const noexcept { return c_; }
    // Non-zero in the handle atomic() gives its function: that group holds the channel.
    std::uint64_t group() const noexcept { return group_; }
    friend bool operator==(const output_channel& a, const output_channel& b) noexcept { return a.c_ == b.c_; }

private:
    std::shared_ptr<detail::io_channel> c_;
    std::uint64_t group_ = 0;
};

// ---------------------------------------------------------------------------------------
// Making channels.

// Over a descriptor, which the channel owns (closing the channel closes it).
LWT_EXPORT input_channel of_fd(input_t, unix_::file_descr fd, std::size_t buffer_size = 0);
LWT_EXPORT output_channel of_fd(output_t, unix_::file_descr fd, std::size_t buffer_size = 0);
// Both directions of a connected socket: the two channels share the descriptor, which is
// closed when both channels are closed (or gone).
LWT_EXPORT std::pair<input_channel, output_channel> of_socket(unix_::file_descr fd, std::size_t buffer_size = 0);
// Lwt_io.pipe: a new pipe's ends as channels.
LWT_EXPORT std::pair<input_channel, output_channel> pipe(std::size_t buffer_size = 0);

// Lwt_io.make: over user functions. `read(buf, n)` gives 0..n bytes (0: end of file);
// `write(buf, n)` writes 1..n bytes and gives how many; `close` runs once, on close.
using read_fn = std::function<promise<std::size_t>(char*, std::size_t)>;
using write_fn = std::function<promise<std::size_t>(const char*, std::size_t)>;
using close_fn = std::function<promise<void>()>;
LWT_EXPORT input_channel make(input_t, read_fn read, close_fn close = {}, std::size_t buffer_size = 0);
LWT_EXPORT output_channel make(output_t, write_fn write, close_fn close = {}, std::size_t buffer_size = 0);

// The standard channels (never closed by the runtime; stdout_ and stderr_ are flushed at
// exit). Named so that the C macros stdin/stdout/stderr cannot break them. Each loop (each
// thread) has its own three, over descriptors 0, 1 and 2: what several loops write
// interleaves, each loop's output in its own order.
LWT_EXPORT extern thread_local const input_channel& stdin_;
LWT_EXPORT extern thread_local const output_channel& stdout_;
LWT_EXPORT extern thread_local const output_channel& stderr_;
// Lwt_io.null (discards what is written) and Lwt_io.zero (reads zeros forever).
LWT_EXPORT output_channel null();
LWT_EXPORT input_channel zero();

LWT_EXPORT std::size_t buffer_size(const input_channel& ic) noexcept;
LWT_EXPORT std::size_t buffer_size(const output_channel& oc) noexcept;
// Changes a channel's buffer size (data already buffered is kept).
LWT_EXPORT promise<void> resize_buffer(const input_channel& ic, std::size_t n);
LWT_EXPORT promise<void> resize_buffer(const output_channel& oc, std::size_t n);

// ---------------------------------------------------------------------------------------
// Closing and grouping.

// An output channel is flushed first (after the operations queued before the close); an
// input channel is closed at once, like abort (Lwt). Closing twice gives the first close's
// outcome.
LWT_EXPORT promise<void> close(const input_channel& ic);
LWT_EXPORT promise<void> close(const output_channel& oc);
// Closes without flushing: the operation running on the channel (its read or write is
// cancelled) and those waiting fail with channel_closed. A read or write function of `make`
// whose promise ignores cancellation is waited for.
LWT_EXPORT promise<void> abort(const input_channel& ic);
LWT_EXPORT promise<void> abort(const output_channel& oc);
LWT_EXPORT bool is_closed(const input_channel& ic) noexcept;
LWT_EXPORT bool is_closed(const output_channel& oc) noexcept;

}  // namespace io

namespace detail {
// Reserves the channel for a group (the channel's FIFO lock); gives the group's key.
LWT_EXPORT promise<std::uint64_t> lock_group(const std::shared_ptr<io_channel>& c, std::uint64_t group);
LWT_EXPORT void unlock_group(const std::shared_ptr<io_channel>& c);
template <class T, class Ch, class F>
promise<T> atomic_impl(Ch ch, F f) {
    std::uint64_t key = co_await lock_group(ch.shared(), ch.group());
    struct unlocker {
        const std::shared_ptr<io_channel>& c;
        bool nested;
        ~unlocker() {
            if (!nested) unlock_group(c);
        }
    } u{ch.shared(), ch.group() != 0 && ch.group() == key};
    // Inside, operations through `handle` belong to the group and do not wait for it.
    Ch handle(ch.shared(), key);
    co_return co_await f(handle);
}
}  // namespace detail

namespace io {

// Lwt_io.atomic: f(ch) with the channel reserved: no other operation on it runs until f's
// promise settles.
template <class Ch, class F>
auto atomic(const Ch& ch, F f) {
    using R = detail::as_promise_t<std::invoke_result_t<F&, Ch&>>;
    static_assert(detail::is_promise_v<R>, "lwt::io::atomic: f must return an lwt::promise");
    return detail::atomic_impl<detail::promise_value_t<R>>(ch, std::move(f));
}

}  // namespace io

}  // namespace lwt
