// Lwt_io's files: opening one as a channel, with_file, whole files as lines, temporary files
// and directories.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>
#include <lwt/unix/fd.hpp>
#include <lwt/unix/fs.hpp>

#include <fcntl.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

namespace lwt::io {

LWT_EXPORT promise<input_channel> open_file(input_t, std::string path, std::size_t buffer_size = 0);
// Creates or truncates the file (flags: O_* added to O_WRONLY|O_CREAT, O_TRUNC by default).
LWT_EXPORT promise<output_channel> open_file(output_t, std::string path, int flags = O_TRUNC, mode_t perm = 0644,
                                             std::size_t buffer_size = 0);

}  // namespace lwt::io

namespace lwt::detail {
template <class T, class Ch, class F>
promise<T> with_channel(promise<Ch> open, F f) {
    Ch ch = co_await std::move(open);
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(ch));
        co_await settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    co_await io::close(ch);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace lwt::detail

namespace lwt::io {

// Lwt_io.with_file: f(channel), then the channel is closed (also when f fails).
template <class Mode, class F>
auto with_file(Mode m, std::string path, F f) {
    using Ch = std::conditional_t<std::is_same_v<Mode, input_t>, input_channel, output_channel>;
    using R = detail::as_promise_t<std::invoke_result_t<F&, Ch&>>;
    static_assert(detail::is_promise_v<R>, "lwt::io::with_file: f must return an lwt::promise");
    return detail::with_channel<detail::promise_value_t<R>>(open_file(m, std::move(path)), std::move(f));
}

LWT_EXPORT promise<std::int64_t> file_length(std::string path);
// The lines of a file as a stream (the file is closed at its end).
LWT_EXPORT stream<std::string> lines_of_file(std::string path);
// Writes every line of the stream to the file (created or truncated).
LWT_EXPORT promise<void> lines_to_file(std::string path, stream<std::string> lines);

}  // namespace lwt::io

namespace lwt::detail {
// A new file or directory in $TMPDIR (else /tmp) named prefix-XXXXXX.
LWT_EXPORT std::pair<std::string, unix_::file_descr> make_temp_file(const std::string& prefix);
LWT_EXPORT std::string make_temp_dir(const std::string& prefix);
LWT_EXPORT void remove_tree(const std::string& path) noexcept;

template <class T, class F>
promise<T> with_temp_file_impl(F f, std::string prefix) {
    auto [path, fd] = make_temp_file(prefix);
    io::output_channel oc = io::of_fd(io::output, std::move(fd));
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(static_cast<const std::string&>(path), oc));
        co_await settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    co_await io::close(oc);
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
        co_await settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    remove_tree(path);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace lwt::detail

namespace lwt::io {

// Lwt_io.with_temp_file: f(path, oc) on a fresh temporary file, removed afterwards.
template <class F>
auto with_temp_file(F f, std::string prefix = "lwt") {
    using R = std::invoke_result_t<F&, const std::string&, output_channel&>;
    return detail::with_temp_file_impl<detail::promise_value_t<R>>(std::move(f), std::move(prefix));
}
// Lwt_io.with_temp_dir: f(path) on a fresh temporary directory, removed (recursively) after.
template <class F>
auto with_temp_dir(F f, std::string prefix = "lwt") {
    using R = std::invoke_result_t<F&, const std::string&>;
    return detail::with_temp_dir_impl<detail::promise_value_t<R>>(std::move(f), std::move(prefix));
}

}  // namespace lwt::io
