// Lwt_io: buffered channels over file descriptors, pipes or user functions; clients and
// servers; files.
//
// A channel is a cheap, copyable handle. Operations on one channel are atomic with respect to
// each other: each waits for the ones before it (a per-channel FIFO lock, as in Lwt), and
// atomic(ch, f) holds the channel for a whole group. Output channels flush themselves when
// idle: data written in one loop iteration is flushed at the next (Lwt's auto-flush), or when
// the buffer fills, or by flush(). Using a closed channel rejects with io::channel_closed.
#pragma once

#include <lwt/mutex.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>
#include <lwt/unix.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// The default buffer size of new channels (4096 unless changed; at least 16).
LWT_EXPORT std::size_t default_buffer_size() noexcept;
LWT_EXPORT void set_default_buffer_size(std::size_t n);

namespace detail {
struct channel;
}

class LWT_EXPORT input_channel {
public:
    explicit input_channel(std::shared_ptr<detail::channel> c, std::uint64_t group = 0) noexcept
        : c_(std::move(c)), group_(group) {}
    detail::channel& impl() const noexcept { return *c_; }
    const std::shared_ptr<detail::channel>& shared() const noexcept { return c_; }
    // Non-zero in the handle atomic() gives its function: that group holds the channel.
    std::uint64_t group() const noexcept { return group_; }
    friend bool operator==(const input_channel& a, const input_channel& b) noexcept { return a.c_ == b.c_; }

private:
    std::shared_ptr<detail::channel> c_;
    std::uint64_t group_ = 0;
};

class LWT_EXPORT output_channel {
public:
    explicit output_channel(std::shared_ptr<detail::channel> c, std::uint64_t group = 0) noexcept
        : c_(std::move(c)), group_(group) {}
    detail::channel& impl() const noexcept { return *c_; }
    const std::shared_ptr<detail::channel>& shared() const noexcept { return c_; }
    // Non-zero in the handle atomic() gives its function: that group holds the channel.
    std::uint64_t group() const noexcept { return group_; }
    friend bool operator==(const output_channel& a, const output_channel& b) noexcept { return a.c_ == b.c_; }

private:
    std::shared_ptr<detail::channel> c_;
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
// exit). Named so that the C macros stdin/stdout/stderr cannot break them.
LWT_EXPORT extern const input_channel stdin_;
LWT_EXPORT extern const output_channel stdout_;
LWT_EXPORT extern const output_channel stderr_;
// Lwt_io.null (discards what is written) and Lwt_io.zero (reads zeros forever).
LWT_EXPORT output_channel null();
LWT_EXPORT input_channel zero();

LWT_EXPORT std::size_t buffer_size(const input_channel& ic) noexcept;
LWT_EXPORT std::size_t buffer_size(const output_channel& oc) noexcept;
// Changes a channel's buffer size (data already buffered is kept).
LWT_EXPORT promise<void> resize_buffer(const input_channel& ic, std::size_t n);
LWT_EXPORT promise<void> resize_buffer(const output_channel& oc, std::size_t n);

// ---------------------------------------------------------------------------------------
// Reading.

LWT_EXPORT promise<char> read_char(const input_channel& ic);
LWT_EXPORT promise<std::optional<char>> read_char_opt(const input_channel& ic);
// A line without its "\n" or "\r\n" (a bare "\r" is kept); the last line may lack its newline;
// lwt::end_of_file only when nothing was read.
LWT_EXPORT promise<std::string> read_line(const input_channel& ic);
LWT_EXPORT promise<std::optional<std::string>> read_line_opt(const input_channel& ic);
// Everything up to the end of file.
LWT_EXPORT promise<std::string> read(const input_channel& ic);
// At most count bytes: what is available, waiting only when nothing is; "" at the end.
LWT_EXPORT promise<std::string> read(const input_channel& ic, std::size_t count);
// Into buf: at most len bytes (0 at the end) / exactly len (lwt::end_of_file if the file ends).
LWT_EXPORT promise<std::size_t> read_into(const input_channel& ic, char* buf, std::size_t len);
LWT_EXPORT promise<void> read_into_exactly(const input_channel& ic, char* buf, std::size_t len);
// The remaining lines, as a stream.
LWT_EXPORT stream<std::string> read_lines(const input_channel& ic);
// The remaining characters, as a stream.
LWT_EXPORT stream<char> read_chars(const input_channel& ic);

// ---------------------------------------------------------------------------------------
// Writing.

LWT_EXPORT promise<void> write_char(const output_channel& oc, char c);
LWT_EXPORT promise<void> write(const output_channel& oc, std::string_view s);
LWT_EXPORT promise<void> write_line(const output_channel& oc, std::string_view s);
// Writes every line of the stream (each followed by "\n").
LWT_EXPORT promise<void> write_lines(const output_channel& oc, stream<std::string> lines);
// Up to len bytes of buf (at least 1 when len > 0) / all len bytes.
LWT_EXPORT promise<std::size_t> write_from(const output_channel& oc, const char* buf, std::size_t len);
LWT_EXPORT promise<void> write_from_exactly(const output_channel& oc, const char* buf, std::size_t len);
LWT_EXPORT promise<void> flush(const output_channel& oc);
// Flushes every open output channel of the program.
LWT_EXPORT promise<void> flush_all();

// Formatted output (fmt syntax). printf/printlf write to stdout_ (or to oc when given first);
// eprintf/eprintlf to stderr_; fprintf/fprintlf to oc. The "l" forms add a newline.
template <class... A>
promise<void> fprintf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> fprintlf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write_line(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printlf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write_line(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printf(fmt::format_string<A...> f, A&&... a) {
    return write(stdout_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printlf(fmt::format_string<A...> f, A&&... a) {
    return write_line(stdout_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> eprintf(fmt::format_string<A...> f, A&&... a) {
    return write(stderr_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> eprintlf(fmt::format_string<A...> f, A&&... a) {
    return write_line(stderr_, fmt::format(f, std::forward<A>(a)...));
}

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

namespace detail {
// Reserves the channel for a group (the channel's FIFO lock); gives the group's key.
LWT_EXPORT promise<std::uint64_t> lock_group(const std::shared_ptr<channel>& c, std::uint64_t group);
LWT_EXPORT void unlock_group(const std::shared_ptr<channel>& c);
template <class T, class Ch, class F>
promise<T> atomic_impl(Ch ch, F f) {
    std::uint64_t key = co_await lock_group(ch.shared(), ch.group());
    struct unlocker {
        const std::shared_ptr<channel>& c;
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

// Lwt_io.atomic: f(ch) with the channel reserved: no other operation on it runs until f's
// promise settles.
template <class Ch, class F>
auto atomic(const Ch& ch, F f) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, Ch&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::io::atomic: f must return an lwt::promise");
    return detail::atomic_impl<lwt::detail::promise_value_t<R>>(ch, std::move(f));
}

// ---------------------------------------------------------------------------------------
// Binary numbers: little- and big-endian readers and writers.

template <bool Big>
struct endian {
    static promise<std::int16_t> read_int16(const input_channel& ic);
    static promise<std::int32_t> read_int32(const input_channel& ic);
    static promise<std::int64_t> read_int64(const input_channel& ic);
    static promise<float> read_float32(const input_channel& ic);
    static promise<double> read_float64(const input_channel& ic);
    static promise<void> write_int16(const output_channel& oc, std::int16_t v);
    static promise<void> write_int32(const output_channel& oc, std::int32_t v);
    static promise<void> write_int64(const output_channel& oc, std::int64_t v);
    static promise<void> write_float32(const output_channel& oc, float v);
    static promise<void> write_float64(const output_channel& oc, double v);
};
using LE = endian<false>;
using BE = endian<true>;
extern template struct LWT_EXPORT endian<false>;
extern template struct LWT_EXPORT endian<true>;

// ---------------------------------------------------------------------------------------
// Files.

LWT_EXPORT promise<input_channel> open_file(input_t, std::string path, std::size_t buffer_size = 0);
// Creates or truncates the file (flags: O_* added to O_WRONLY|O_CREAT, O_TRUNC by default).
LWT_EXPORT promise<output_channel> open_file(output_t, std::string path, int flags = O_TRUNC, mode_t perm = 0644,
                                             std::size_t buffer_size = 0);

namespace detail {
template <class T, class Ch, class F>
promise<T> with_channel(promise<Ch> open, F f) {
    Ch ch = co_await std::move(open);
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(ch));
        co_await lwt::detail::settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    co_await close(ch);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace detail

// Lwt_io.with_file: f(channel), then the channel is closed (also when f fails).
template <class Mode, class F>
auto with_file(Mode m, std::string path, F f) {
    using Ch = std::conditional_t<std::is_same_v<Mode, input_t>, input_channel, output_channel>;
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, Ch&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::io::with_file: f must return an lwt::promise");
    return detail::with_channel<lwt::detail::promise_value_t<R>>(open_file(m, std::move(path)), std::move(f));
}

LWT_EXPORT promise<std::int64_t> file_length(std::string path);
// The lines of a file as a stream (the file is closed at its end).
LWT_EXPORT stream<std::string> lines_of_file(std::string path);
// Writes every line of the stream to the file (created or truncated).
LWT_EXPORT promise<void> lines_to_file(std::string path, stream<std::string> lines);

namespace detail {
LWT_EXPORT std::pair<std::string, unix_::file_descr> make_temp_file(const std::string& prefix);
LWT_EXPORT std::string make_temp_dir(const std::string& prefix);
LWT_EXPORT void remove_tree(const std::string& path) noexcept;

template <class T, class F>
promise<T> with_temp_file_impl(F f, std::string prefix) {
    auto [path, fd] = make_temp_file(prefix);
    output_channel oc = of_fd(output, std::move(fd));
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(static_cast<const std::string&>(path), oc));
        co_await lwt::detail::settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    co_await close(oc);
    co_await unix_::unlink(path);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
template <class T, class F>
promise<T> with_temp_dir_impl(F f, std::string prefix) {
    std::string path = make_temp_dir(prefix);
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(static_cast<const std::string&>(path)));
        co_await lwt::detail::settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    remove_tree(path);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace detail

// Lwt_io.with_temp_file: f(path, oc) on a fresh temporary file, removed afterwards.
template <class F>
auto with_temp_file(F f, std::string prefix = "lwt") {
    using R = std::invoke_result_t<F&, const std::string&, output_channel&>;
    return detail::with_temp_file_impl<lwt::detail::promise_value_t<R>>(std::move(f), std::move(prefix));
}
// Lwt_io.with_temp_dir: f(path) on a fresh temporary directory, removed (recursively) after.
template <class F>
auto with_temp_dir(F f, std::string prefix = "lwt") {
    using R = std::invoke_result_t<F&, const std::string&>;
    return detail::with_temp_dir_impl<lwt::detail::promise_value_t<R>>(std::move(f), std::move(prefix));
}

// ---------------------------------------------------------------------------------------
// Clients.

// Lwt_io.open_connection: a connected socket's channels (TCP_NODELAY on for TCP).
LWT_EXPORT promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr,
                                                                            std::size_t buffer_size = 0);

namespace detail {
template <class T, class F>
promise<T> with_connection_impl(unix_::sockaddr addr, F f) {
    auto ch = co_await open_connection(addr);
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(ch.first, ch.second));
        co_await lwt::detail::settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    try {
        co_await close(ch.second);
    } catch (...) {
        if (!err) err = std::current_exception();
    }
    co_await close(ch.first);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace detail

// Lwt_io.with_connection: f(ic, oc) on a new connection, both channels closed afterwards.
template <class F>
auto with_connection(const unix_::sockaddr& addr, F f) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, input_channel&, output_channel&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::io::with_connection: f must return an lwt::promise");
    return detail::with_connection_impl<lwt::detail::promise_value_t<R>>(addr, std::move(f));
}

// ---------------------------------------------------------------------------------------
// Servers.

struct server_options {
    int backlog = 1024;
    std::size_t buffer_size = 0;
    // At most this many connections handled at once (0: no limit); the accept loop waits for
    // one to end before accepting more.
    std::size_t max_connections = 0;
    bool no_delay = true;  // TCP_NODELAY on accepted TCP connections
};

namespace detail {
struct server_state;
}

// Lwt_io.server.
class LWT_EXPORT server {
public:
    explicit server(std::shared_ptr<detail::server_state> s) : s_(std::move(s)) {}
    // Where it listens (with the port chosen by the system when 0 was asked).
    unix_::sockaddr listening_address() const;
    // Connections being handled now.
    std::size_t connections() const;
    detail::server_state& impl() const { return *s_; }

private:
    std::shared_ptr<detail::server_state> s_;
};

using client_handler = std::function<promise<void>(unix_::sockaddr, input_channel, output_channel)>;
using socket_handler = std::function<promise<void>(unix_::sockaddr, unix_::file_descr)>;

// Lwt_io.establish_server_with_client_address: listens on addr (SO_REUSEADDR) and calls
// handler(client, ic, oc) for each connection; when the handler's promise settles both
// channels are closed (again, if the handler closed them). A handler's failure goes to
// lwt::async_exception_hook and its connection is still closed. ECONNABORTED is retried;
// EMFILE/ENFILE back off and the server keeps serving once descriptors are free again.
LWT_EXPORT promise<server> establish_server_with_client_address(const unix_::sockaddr& addr, client_handler handler,
                                                                server_options options = {});
// Lwt_io.establish_server_with_client_socket: the same with the connected socket, which the
// server closes when the handler's promise settles (unless the handler took it).
LWT_EXPORT promise<server> establish_server_with_client_socket(const unix_::sockaddr& addr, socket_handler handler,
                                                               server_options options = {});
// Lwt_io.shutdown_server: closes the listening socket (removing a Unix-domain socket's file);
// connections already accepted keep working.
LWT_EXPORT promise<void> shutdown_server(const server& s);

}  // namespace io

}  // namespace lwt
