// Lwt_unix's sockets. accept, connect, recv, send, recvfrom and sendto are operations (see
// operation_impl.hpp); the rest are plain system calls that never block.
#include "operation_impl.hpp"
#include "support.hpp"

#include <lwt/unix/socket.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>

namespace lwt::unix_ {

using detail::check_buffer;
using detail::clamp_len;
using detail::cloexec_flags;
using detail::fd_str;
using detail::io_kind;
using detail::throw_errno;

template class operation<detail::accept_kind>;
template class operation<detail::connect_kind>;
template class operation<detail::recvfrom_kind>;
template class operation<detail::sendto_kind>;

file_descr socket(socket_domain domain, socket_type type, int protocol) {
    int fd = ::socket(static_cast<int>(domain), cloexec_flags(static_cast<int>(type)), protocol);
    if (fd < 0) throw_errno("socket", "");
    return file_descr(fd);
}

std::pair<file_descr, file_descr> socketpair(socket_domain domain, socket_type type, int protocol) {
    int fds[2];
    if (::socketpair(static_cast<int>(domain), cloexec_flags(static_cast<int>(type)), protocol, fds) != 0)
        throw_errno("socketpair", "");
    return {file_descr(fds[0]), file_descr(fds[1])};
}

void bind(const file_descr& fd, const sockaddr& addr) {
    if (::bind(fd.fd(), addr.raw(), addr.size()) != 0) throw_errno("bind", addr.to_string());
}

void listen(const file_descr& fd, int backlog) {
    if (::listen(fd.fd(), backlog) != 0) throw_errno("listen", fd_str(fd.fd()));
    // Non-blocking, so that accept_n can take what is queued without waiting (io_uring
    // waits for readiness itself when it meets EAGAIN).
    int fl = ::fcntl(fd.fd(), F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK)) ::fcntl(fd.fd(), F_SETFL, fl | O_NONBLOCK);
}

namespace {

accept_op accept_on(int fd) {
    int flags = io_engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0;
    return accept_op({.kind = io_kind::accept, .fd = fd, .flags = flags, .call = "accept"});
}

promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n_impl(int fd,
                                                                                                 std::size_t n) {
    std::vector<std::pair<file_descr, sockaddr>> out;
    std::exception_ptr err;
    out.push_back(co_await accept_on(fd));  // the first one may wait; its failure rejects
    int flags = SOCK_CLOEXEC | (io_engine::current().wants_nonblocking() ? SOCK_NONBLOCK : 0);
    while (out.size() < n) {
        // The rest: only what is ready already -- accepted ahead by the engine (io_uring's
        // multishot accept), else queued in the kernel (the listening socket is non-blocking).
        sockaddr peer;
        socklen_t len = sockaddr::capacity;
        int c = io_engine::current().take_accepted(fd);
        if (c >= 0) {
            if (::getpeername(c, peer.raw(), &len) != 0) len = 0;  // (reset already: its first read says so)
        } else if (c == -EAGAIN) {
            c = ::accept4(fd, peer.raw(), &len, flags);
            if (c < 0) c = -errno;
        }
        if (c < 0) {
            if (c != -EAGAIN && c != -EWOULDBLOCK && c != -EINTR)
                err = std::make_exception_ptr(unix_error(-c, "accept", fd_str(fd)));
            break;
        }
        peer.set_size(len);
        out.emplace_back(file_descr(c), peer);
    }
    co_return std::make_pair(std::move(out), err);
}

}  // namespace

accept_op accept(const file_descr& fd) { return accept_on(fd.fd()); }

promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n(const file_descr& fd,
                                                                                            std::size_t n) {
    if (n == 0) throw std::invalid_argument("lwt::unix_::accept_n: n must be at least 1");
    return accept_n_impl(fd.fd(), n);
}

connect_op connect(const file_descr& fd, const sockaddr& addr) {
    return connect_op({.kind = io_kind::connect, .fd = fd.fd(), .call = "connect"}, {addr});
}

void shutdown(const file_descr& fd, shutdown_command how) {
    if (::shutdown(fd.fd(), static_cast<int>(how)) != 0) throw_errno("shutdown", fd_str(fd.fd()));
}

sockaddr getsockname(const file_descr& fd) {
    sockaddr a;
    socklen_t len = sockaddr::capacity;
    if (::getsockname(fd.fd(), a.raw(), &len) != 0) throw_errno("getsockname", fd_str(fd.fd()));
    a.set_size(len);
    return a;
}

sockaddr getpeername(const file_descr& fd) {
    sockaddr a;
    socklen_t len = sockaddr::capacity;
    if (::getpeername(fd.fd(), a.raw(), &len) != 0) throw_errno("getpeername", fd_str(fd.fd()));
    a.set_size(len);
    return a;
}

transfer recv(const file_descr& fd, void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "recv");
    return transfer(
        {.kind = io_kind::recv, .fd = fd.fd(), .addr = buf, .len = clamp_len(len), .flags = flags, .call = "recv"});
}

transfer send(const file_descr& fd, const void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "send");
    return transfer({.kind = io_kind::send,
                     .fd = fd.fd(),
                     .addr = const_cast<void*>(buf),
                     .len = clamp_len(len),
                     .flags = flags,
                     .call = "send"});
}

recvfrom_op recvfrom(const file_descr& fd, void* buf, std::size_t len, int flags) {
    check_buffer(buf, len, "recvfrom");
    return recvfrom_op({.kind = io_kind::recvmsg, .fd = fd.fd(), .flags = flags, .call = "recvfrom"},
                       detail::message(buf, clamp_len(len), nullptr));
}

sendto_op sendto(const file_descr& fd, const void* buf, std::size_t len, const sockaddr& to, int flags) {
    check_buffer(buf, len, "sendto");
    return sendto_op({.kind = io_kind::sendmsg, .fd = fd.fd(), .flags = flags, .call = "sendto"},
                     detail::message(const_cast<void*>(buf), clamp_len(len), &to));
}

// ---------------------------------------------------------------------------------------
// Socket options.

namespace {

std::pair<int, int> level_name(socket_bool_option o) {
    switch (o) {
        case socket_bool_option::so_debug: return {SOL_SOCKET, SO_DEBUG};
        case socket_bool_option::so_broadcast: return {SOL_SOCKET, SO_BROADCAST};
        case socket_bool_option::so_reuseaddr: return {SOL_SOCKET, SO_REUSEADDR};
        case socket_bool_option::so_reuseport: return {SOL_SOCKET, SO_REUSEPORT};
        case socket_bool_option::so_keepalive: return {SOL_SOCKET, SO_KEEPALIVE};
        case socket_bool_option::so_dontroute: return {SOL_SOCKET, SO_DONTROUTE};
        case socket_bool_option::so_oobinline: return {SOL_SOCKET, SO_OOBINLINE};
        case socket_bool_option::so_acceptconn: return {SOL_SOCKET, SO_ACCEPTCONN};
        case socket_bool_option::tcp_nodelay: return {IPPROTO_TCP, TCP_NODELAY};
        case socket_bool_option::ipv6_only: return {IPPROTO_IPV6, IPV6_V6ONLY};
    }
    throw std::invalid_argument("lwt::unix_: unknown socket option");
}

std::pair<int, int> level_name(socket_int_option o) {
    switch (o) {
        case socket_int_option::so_sndbuf: return {SOL_SOCKET, SO_SNDBUF};
        case socket_int_option::so_rcvbuf: return {SOL_SOCKET, SO_RCVBUF};
        case socket_int_option::so_error: return {SOL_SOCKET, SO_ERROR};
        case socket_int_option::so_type: return {SOL_SOCKET, SO_TYPE};
        case socket_int_option::so_rcvlowat: return {SOL_SOCKET, SO_RCVLOWAT};
        case socket_int_option::so_sndlowat: return {SOL_SOCKET, SO_SNDLOWAT};
    }
    throw std::invalid_argument("lwt::unix_: unknown socket option");
}

int get_int(const file_descr& fd, std::pair<int, int> ln) {
    int v = 0;
    socklen_t len = sizeof v;
    if (::getsockopt(fd.fd(), ln.first, ln.second, &v, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return v;
}

void set_int(const file_descr& fd, std::pair<int, int> ln, int v) {
    if (::setsockopt(fd.fd(), ln.first, ln.second, &v, sizeof v) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

}  // namespace

void setsockopt(const file_descr& fd, socket_bool_option opt, bool v) { set_int(fd, level_name(opt), v ? 1 : 0); }
bool getsockopt(const file_descr& fd, socket_bool_option opt) { return get_int(fd, level_name(opt)) != 0; }
void setsockopt_int(const file_descr& fd, socket_int_option opt, int v) { set_int(fd, level_name(opt), v); }
int getsockopt_int(const file_descr& fd, socket_int_option opt) { return get_int(fd, level_name(opt)); }

void setsockopt_optint(const file_descr& fd, socket_optint_option, std::optional<int> v) {
    linger l{v.has_value() ? 1 : 0, v.value_or(0)};
    if (::setsockopt(fd.fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

std::optional<int> getsockopt_optint(const file_descr& fd, socket_optint_option) {
    linger l{};
    socklen_t len = sizeof l;
    if (::getsockopt(fd.fd(), SOL_SOCKET, SO_LINGER, &l, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return l.l_onoff ? std::optional<int>(l.l_linger) : std::nullopt;
}

void setsockopt_float(const file_descr& fd, socket_float_option opt, double v) {
    if (!(v >= 0)) throw std::invalid_argument("lwt::unix_::setsockopt_float: negative or NaN timeout");
    timeval tv{static_cast<time_t>(v), static_cast<suseconds_t>((v - std::floor(v)) * 1e6)};
    int name = opt == socket_float_option::so_rcvtimeo ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (::setsockopt(fd.fd(), SOL_SOCKET, name, &tv, sizeof tv) != 0) throw_errno("setsockopt", fd_str(fd.fd()));
}

double getsockopt_float(const file_descr& fd, socket_float_option opt) {
    timeval tv{};
    socklen_t len = sizeof tv;
    int name = opt == socket_float_option::so_rcvtimeo ? SO_RCVTIMEO : SO_SNDTIMEO;
    if (::getsockopt(fd.fd(), SOL_SOCKET, name, &tv, &len) != 0) throw_errno("getsockopt", fd_str(fd.fd()));
    return static_cast<double>(tv.tv_sec) + tv.tv_usec * 1e-6;
}

// ---- multicast ----

namespace {

bool is_ipv6_socket(int fd) {
    ::sockaddr_storage a{};
    socklen_t n = sizeof a;
    return ::getsockname(fd, reinterpret_cast<::sockaddr*>(&a), &n) == 0 && a.ss_family == AF_INET6;
}

void set_opt(int fd, int level, int name, const void* v, socklen_t n, const char* call) {
    if (::setsockopt(fd, level, name, v, n) != 0) detail::throw_errno(call, detail::fd_str(fd));
}

void membership(const file_descr& fd, std::string_view group, std::string_view interface, bool join) {
    const char* call = join ? "mcast_add_membership" : "mcast_drop_membership";
    const std::string g(group), i(interface);
    ::ip_mreq m4{};
    ::ipv6_mreq m6{};
    if (::inet_pton(AF_INET, g.c_str(), &m4.imr_multiaddr) == 1) {
        m4.imr_interface.s_addr = htonl(INADDR_ANY);
        if (!i.empty() && ::inet_pton(AF_INET, i.c_str(), &m4.imr_interface) != 1)
            throw std::invalid_argument(fmt::format("lwt::unix_::{}: interface \"{}\" is not an IPv4 address", call, i));
        set_opt(fd.fd(), IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &m4, sizeof m4, call);
    } else if (::inet_pton(AF_INET6, g.c_str(), &m6.ipv6mr_multiaddr) == 1) {
        m6.ipv6mr_interface = i.empty() ? 0 : ::if_nametoindex(i.c_str());
        if (!i.empty() && m6.ipv6mr_interface == 0) detail::throw_errno(call, detail::quoted(i));
        set_opt(fd.fd(), IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &m6, sizeof m6, call);
    } else {
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: \"{}\" is not a numeric address", call, g));
    }
}

}  // namespace

void mcast_set_loop(const file_descr& fd, bool on) {
    const int v = on ? 1 : 0;
    if (is_ipv6_socket(fd.fd()))
        set_opt(fd.fd(), IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &v, sizeof v, "mcast_set_loop");
    else
        set_opt(fd.fd(), IPPROTO_IP, IP_MULTICAST_LOOP, &v, sizeof v, "mcast_set_loop");
}

void mcast_set_ttl(const file_descr& fd, int ttl) {
    if (ttl < 0 || ttl > 255) throw std::invalid_argument(fmt::format("lwt::unix_::mcast_set_ttl: {} is not 0..255", ttl));
    if (is_ipv6_socket(fd.fd()))
        set_opt(fd.fd(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl, sizeof ttl, "mcast_set_ttl");
    else
        set_opt(fd.fd(), IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl, "mcast_set_ttl");
}

void mcast_add_membership(const file_descr& fd, std::string_view group, std::string_view interface) {
    membership(fd, group, interface, true);
}

void mcast_drop_membership(const file_descr& fd, std::string_view group, std::string_view interface) {
    membership(fd, group, interface, false);
}

}  // namespace lwt::unix_
