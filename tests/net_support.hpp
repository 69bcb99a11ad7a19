// Helpers shared by the I/O suites.
#pragma once

#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <utility>

namespace test {

// A connected pair of loopback TCP sockets.
inline std::pair<lwt::unix_::file_descr, lwt::unix_::file_descr> tcp_pair() {
    namespace unix_ = lwt::unix_;
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    auto addr = unix_::getsockname(srv);
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    auto acc = unix_::accept(srv);
    lwt::main::run(unix_::connect(c, addr));
    auto conn_peer_ = lwt::main::run(std::move(acc));
    return {std::move(c), std::move(conn_peer_.first)};
}

}  // namespace test
