// Helpers shared by the I/O suites.
#pragma once

#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <sys/utsname.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

namespace test {

// Whether this run's accepts are io_uring multishot accepts, which take connections ahead of
// demand: the io_uring engine on a kernel of 5.19 or later, unless LWT_URING_NO_MULTISHOT is
// set (as uring_engine::create decides). Elsewhere (epoll, one-shot accepts) a connection
// nobody accepts stays in the kernel's backlog.
inline bool multishot_accepts() {
    if (lwt::engine::id() != "uring" || std::getenv("LWT_URING_NO_MULTISHOT") != nullptr) return false;
    utsname u;
    int major = 0, minor = 0;
    if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
    return major > 5 || (major == 5 && minor >= 19);
}

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

// Every byte of d (a send may take fewer: under LWT_FAULTS=short, one). By value: the caller
// may pass a temporary, which a coroutine's reference would outlive.
inline lwt::promise<void> send_all(const lwt::unix_::file_descr& s, std::string d) {
    for (std::size_t off = 0; off < d.size();) off += co_await lwt::unix_::send(s, d.data() + off, d.size() - off);
}

}  // namespace test
