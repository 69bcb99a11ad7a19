// Lwt_io's clients: a socket connected to the address, as a pair of channels sharing it.
#include "channel_impl.hpp"

#include <lwt/io/connection.hpp>
#include <lwt/unix/socket.hpp>

#include <utility>

namespace lwt::io {

namespace {

promise<std::pair<input_channel, output_channel>> open_connection_impl(unix_::sockaddr addr, std::size_t size) {
    auto domain = static_cast<unix_::socket_domain>(addr.family());
    auto fd = unix_::socket(domain, unix_::socket_type::stream);
    co_await unix_::connect(fd, addr);
    if (domain != unix_::socket_domain::unix_) unix_::setsockopt(fd, unix_::socket_bool_option::tcp_nodelay, true);
    co_return detail::socket_channels(std::move(fd), size);
}

}  // namespace

promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr, std::size_t size) {
    return open_connection_impl(addr, size);
}

}  // namespace lwt::io
