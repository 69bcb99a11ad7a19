// Lwt_unix's sockets: creating, binding, accepting, connecting, sending and receiving,
// and socket options.
#pragma once

#include <lwt/unix/fd.hpp>
#include <lwt/unix/sockaddr.hpp>

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lwt::detail {
struct accept_kind {
    using value_type = std::pair<unix_::file_descr, unix_::sockaddr>;
    static constexpr bool owns_result = true;  // the new descriptor
    struct extra {
        unix_::sockaddr peer;
        socklen_t len = unix_::sockaddr::capacity;
        void point(io_op& op) noexcept {
            op.addr = peer.raw();
            op.addr2 = &len;
        }
        void copy_result(const extra& from) noexcept {
            peer = from.peer;
            len = from.len;
        }
    };
    static value_type value(const io_op& op, extra& x) noexcept {
        x.peer.set_size(x.len);
        return {unix_::file_descr(op.res), x.peer};
    }
};
struct connect_kind {
    using value_type = void;
    static constexpr bool owns_result = false;
    struct extra {
        unix_::sockaddr addr;
        void point(io_op& op) noexcept {
            op.addr = addr.raw();
            op.off = addr.size();
        }
    };
    static void value(const io_op&, const extra&) noexcept {}
    static std::string error_arg(const io_op&, const extra& x) { return x.addr.to_string(); }
};

// recvmsg/sendmsg of one buffer: the message header and the address live here. The
// kernel writes the sender's address (and the header's lengths) when a recvfrom completes.
struct message {
    unix_::sockaddr addr;
    struct ::iovec iov{};
    struct ::msghdr msg{};
    message() noexcept = default;
    message(void* buf, std::size_t len, const unix_::sockaddr* to) noexcept
        : addr(to != nullptr ? *to : unix_::sockaddr()) {
        iov.iov_base = buf;
        iov.iov_len = len;
        msg.msg_namelen = to != nullptr ? to->size() : unix_::sockaddr::capacity;
        msg.msg_iovlen = 1;
    }
    void point(io_op& op) noexcept {
        msg.msg_name = addr.raw();
        msg.msg_iov = &iov;
        op.addr = &msg;
        op.len = 1;  // one header
    }
    void copy_result(const message& from) noexcept {
        addr = from.addr;
        msg.msg_namelen = from.msg.msg_namelen;
        msg.msg_flags = from.msg.msg_flags;
    }
};
struct recvfrom_kind {
    using value_type = std::pair<std::size_t, unix_::sockaddr>;
    static constexpr bool owns_result = false;
    using extra = message;
    static value_type value(const io_op& op, extra& x) noexcept {
        x.addr.set_size(x.msg.msg_namelen);
        return {static_cast<std::size_t>(op.res), x.addr};
    }
};
struct sendto_kind {
    using value_type = std::size_t;
    static constexpr bool owns_result = false;
    using extra = message;
    static std::size_t value(const io_op& op, const extra&) noexcept { return static_cast<std::size_t>(op.res); }
    static std::string error_arg(const io_op&, const extra& x) { return x.addr.to_string(); }
};
}  // namespace lwt::detail

namespace lwt::unix_ {

enum class socket_domain { unix_ = AF_UNIX, inet = AF_INET, inet6 = AF_INET6 };
enum class socket_type { stream = SOCK_STREAM, dgram = SOCK_DGRAM, seqpacket = SOCK_SEQPACKET, raw = SOCK_RAW };
enum class shutdown_command { receive = SHUT_RD, send = SHUT_WR, all = SHUT_RDWR };

LWT_EXPORT file_descr socket(socket_domain domain, socket_type type, int protocol = 0);
LWT_EXPORT std::pair<file_descr, file_descr> socketpair(socket_domain domain, socket_type type, int protocol = 0);
LWT_EXPORT void bind(const file_descr& fd, const sockaddr& addr);
LWT_EXPORT void listen(const file_descr& fd, int backlog = 1024);

// An accept in flight: gives the connection and its peer's address.
using accept_op = operation<detail::accept_kind>;
extern template class LWT_EXPORT operation<detail::accept_kind>;
// A connect in flight.
using connect_op = operation<detail::connect_kind>;
extern template class LWT_EXPORT operation<detail::connect_kind>;

LWT_EXPORT accept_op accept(const file_descr& fd);
// Lwt_unix.accept_n: at least one and at most n connections (io_uring: multishot accept);
// the error that stopped the batch, if any, is reported with the connections accepted.
LWT_EXPORT promise<std::pair<std::vector<std::pair<file_descr, sockaddr>>, std::exception_ptr>> accept_n(
    const file_descr& fd, std::size_t n);
LWT_EXPORT connect_op connect(const file_descr& fd, const sockaddr& addr);
LWT_EXPORT void shutdown(const file_descr& fd, shutdown_command how);
LWT_EXPORT sockaddr getsockname(const file_descr& fd);
LWT_EXPORT sockaddr getpeername(const file_descr& fd);

LWT_EXPORT transfer recv(const file_descr& fd, void* buf, std::size_t len, int flags = 0);
LWT_EXPORT transfer send(const file_descr& fd, const void* buf, std::size_t len, int flags = 0);

// A datagram received (its size and sender) or sent.
using recvfrom_op = operation<detail::recvfrom_kind>;
extern template class LWT_EXPORT operation<detail::recvfrom_kind>;
using sendto_op = operation<detail::sendto_kind>;
extern template class LWT_EXPORT operation<detail::sendto_kind>;

LWT_EXPORT recvfrom_op recvfrom(const file_descr& fd, void* buf, std::size_t len, int flags = 0);
LWT_EXPORT sendto_op sendto(const file_descr& fd, const void* buf, std::size_t len, const sockaddr& to,
                            int flags = 0);

// Unix.socket_bool_option / socket_int_option / socket_optint_option / socket_float_option.
enum class socket_bool_option { so_debug, so_broadcast, so_reuseaddr, so_reuseport, so_keepalive, so_dontroute,
                                so_oobinline, so_acceptconn, tcp_nodelay, ipv6_only };
enum class socket_int_option { so_sndbuf, so_rcvbuf, so_error, so_type, so_rcvlowat, so_sndlowat };
enum class socket_optint_option { so_linger };
enum class socket_float_option { so_rcvtimeo, so_sndtimeo };

LWT_EXPORT void setsockopt(const file_descr& fd, socket_bool_option opt, bool v);
LWT_EXPORT bool getsockopt(const file_descr& fd, socket_bool_option opt);
LWT_EXPORT void setsockopt_int(const file_descr& fd, socket_int_option opt, int v);
LWT_EXPORT int getsockopt_int(const file_descr& fd, socket_int_option opt);
LWT_EXPORT void setsockopt_optint(const file_descr& fd, socket_optint_option opt, std::optional<int> v);
LWT_EXPORT std::optional<int> getsockopt_optint(const file_descr& fd, socket_optint_option opt);
LWT_EXPORT void setsockopt_float(const file_descr& fd, socket_float_option opt, double v);
LWT_EXPORT double getsockopt_float(const file_descr& fd, socket_float_option opt);

// Lwt_unix.mcast_*: multicast on a datagram socket, IPv4 or IPv6 by the group's address.
// mcast_set_loop: whether this host's own members receive what the socket sends (default:
// yes); mcast_set_ttl: how many hops a datagram may travel (0: not past this host; default 1).
LWT_EXPORT void mcast_set_loop(const file_descr& fd, bool on);
LWT_EXPORT void mcast_set_ttl(const file_descr& fd, int ttl);
// Joins (leaves) the group, a numeric address ("239.1.2.3", "ff02::1:3"), on an interface:
// IPv4, the interface's address ("127.0.0.1"; empty: the kernel's choice); IPv6, its name
// ("eth0"; empty: the kernel's choice). A bad address is std::invalid_argument.
LWT_EXPORT void mcast_add_membership(const file_descr& fd, std::string_view group, std::string_view interface = {});
LWT_EXPORT void mcast_drop_membership(const file_descr& fd, std::string_view group, std::string_view interface = {});

}  // namespace lwt::unix_
