// Lwt_io's clients: a connection to a server as a pair of channels.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/sockaddr.hpp>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt::io {

// Lwt_io.open_connection: a connected socket's channels (TCP_NODELAY on for TCP).
LWT_EXPORT promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr,
                                                                            std::size_t buffer_size = 0);
// Each address in turn, until one connects (as tokio's TcpStream::connect with several):
// none connects, the last one's failure; an empty list is std::invalid_argument.
LWT_EXPORT promise<std::pair<input_channel, output_channel>> open_connection(std::vector<unix_::sockaddr> addresses,
                                                                            std::size_t buffer_size = 0);
// By name, as tokio's TcpStream::connect("host:port"): host and service ("example.com",
// "443" or "https") resolved with unix_::getaddrinfo (on the worker pool), then each address
// tried as above, in the resolver's order. No address: unix_error ENXIO naming
// "open_connection" and "host:service".
LWT_EXPORT promise<std::pair<input_channel, output_channel>> open_connection(std::string host, std::string service,
                                                                            std::size_t buffer_size = 0);

}  // namespace lwt::io

namespace lwt::detail {
template <class T, class F>
promise<T> with_connection_impl(promise<std::pair<io::input_channel, io::output_channel>> opening, F f) {
    auto ch = co_await opening;
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
    return detail::with_connection_impl<detail::promise_value_t<R>>(io::open_connection(addr), std::move(f));
}
// By name: as open_connection(host, service).
template <class F>
auto with_connection(std::string host, std::string service, F f) {
    using R = detail::as_promise_t<std::invoke_result_t<F&, input_channel&, output_channel&>>;
    static_assert(detail::is_promise_v<R>, "lwt::io::with_connection: f must return an lwt::promise");
    return detail::with_connection_impl<detail::promise_value_t<R>>(
        io::open_connection(std::move(host), std::move(service)), std::move(f));
}

}  // namespace lwt::io
