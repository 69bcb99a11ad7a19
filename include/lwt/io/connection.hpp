// Lwt_io's clients: a connection to a server as a pair of channels.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/sockaddr.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace lwt::io {

// Lwt_io.open_connection: a connected socket's channels (TCP_NODELAY on for TCP).
LWT_EXPORT promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr,
                                                                            std::size_t buffer_size = 0);

}  // namespace lwt::io

namespace lwt::detail {
template <class T, class F>
promise<T> with_connection_impl(unix_::sockaddr addr, F f) {
    auto ch = co_await io::open_connection(addr);
    std::exception_ptr err;
    std::optional<promise<T>> p;
    try {
        p.emplace(f(ch.first, ch.second));
        co_await settled(*p);
    } catch (...) {
        err = std::current_exception();
    }
    try {
        co_await io::close(ch.second);
    } catch (...) {
        if (!err) err = std::current_exception();
    }
    co_await io::close(ch.first);
    if (err) std::rethrow_exception(err);
    co_return co_await std::move(*p);
}
}  // namespace lwt::detail

namespace lwt::io {

// Lwt_io.with_connection: f(ic, oc) on a new connection, both channels closed afterwards.
template <class F>
auto with_connection(const unix_::sockaddr& addr, F f) {
    using R = detail::as_promise_t<std::invoke_result_t<F&, input_channel&, output_channel&>>;
    static_assert(detail::is_promise_v<R>, "lwt::io::with_connection: f must return an lwt::promise");
    return detail::with_connection_impl<detail::promise_value_t<R>>(addr, std::move(f));
}

}  // namespace lwt::io
