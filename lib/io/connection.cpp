// Lwt_io's clients: a socket connected to the address, as a pair of channels sharing it.
#include "channel_impl.hpp"

#include <lwt/io/connection.hpp>
#include <lwt/unix/error.hpp>
#include <lwt/unix/resolve.hpp>
#include <lwt/unix/socket.hpp>

#include <cerrno>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace lwt::io {

namespace {

promise<std::pair<input_channel, output_channel>> open_connection_impl(unix_::sockaddr addr, std::size_t size) {
    auto domain = static_cast<unix_::socket_domain>(addr.family());
    auto fd = unix_::socket(domain, unix_::socket_type::stream);
    co_await unix_::connect(fd, addr);
    if (domain != unix_::socket_domain::unix_) unix_::setsockopt(fd, unix_::socket_bool_option::tcp_nodelay, true);
    co_return detail::socket_channels(std::move(fd), size);
}

promise<std::pair<input_channel, output_channel>> open_first(std::vector<unix_::sockaddr> addresses,
                                                              std::size_t size) {
    std::exception_ptr last;
    for (const auto& a : addresses) {
        try {
            co_return co_await open_connection_impl(a, size);
        } catch (const lwt::canceled&) {
            throw;
        } catch (...) {
            last = std::current_exception();  // (refused, unreachable: the next address)
        }
    }
    std::rethrow_exception(last);
}

promise<std::pair<input_channel, output_channel>> open_by_name(std::string host, std::string service,
                                                                std::size_t size) {
    unix_::getaddrinfo_options hints;
    hints.socktype = unix_::socket_type::stream;
    auto found = co_await unix_::getaddrinfo(host, service, hints);
    if (found.empty()) throw unix_::unix_error(ENXIO, "open_connection", host + ":" + service);
    std::vector<unix_::sockaddr> addresses;
    for (const auto& a : found) addresses.push_back(a.addr);
    co_return co_await open_first(std::move(addresses), size);
}

}  // namespace

promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr, std::size_t size) {
    return open_connection_impl(addr, size);
}

promise<std::pair<input_channel, output_channel>> open_connection(std::vector<unix_::sockaddr> addresses,
                                                                  std::size_t size) {
    if (addresses.empty()) throw std::invalid_argument("lwt::io::open_connection: no address");
    return open_first(std::move(addresses), size);
}

promise<std::pair<input_channel, output_channel>> open_connection(std::string host, std::string service,
                                                                  std::size_t size) {
    return open_by_name(std::move(host), std::move(service), size);
}

}  // namespace lwt::io
