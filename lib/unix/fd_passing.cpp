// Descriptors over Unix-domain sockets: sendmsg and recvmsg with SCM_RIGHTS, made without
// blocking, with a readiness wait when they would block (so both engines do the same, and
// the control buffer lives in this coroutine's frame for the call only).
#include "support.hpp"

#include <lwt/unix/fd_passing.hpp>
#include <lwt/unix/ready.hpp>

#include <sys/socket.h>

#include <cstring>
#include <stdexcept>

namespace lwt::unix_ {

namespace {

constexpr std::size_t max_fds = 253;  // SCM_MAX_FD

// (The socket's number, read at the call, as every operation reads it.)
promise<std::size_t> send_msg_impl(int socket, const void* buf, std::size_t len, std::vector<int> fds) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    for (;;) {
        iovec iov{const_cast<void*>(buf), len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        if (!fds.empty()) {
            m.msg_control = control.data();
            m.msg_controllen = control.size();
            cmsghdr* c = CMSG_FIRSTHDR(&m);
            c->cmsg_level = SOL_SOCKET;
            c->cmsg_type = SCM_RIGHTS;
            c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
            std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
        }
        ssize_t n = ::sendmsg(socket, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) co_return static_cast<std::size_t>(n);
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) throw unix_error(errno, "send_msg", detail::fd_str(socket));
        co_await wait_write(socket);
    }
}

promise<received_msg> recv_msg_impl(int socket, void* buf, std::size_t len) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds), 0);
    for (;;) {
        iovec iov{buf, len};
        msghdr m{};
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        m.msg_control = control.data();
        m.msg_controllen = control.size();
        ssize_t n = ::recvmsg(socket, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) throw unix_error(errno, "recv_msg", detail::fd_str(socket));
            co_await wait_read(socket);
            continue;
        }
        received_msg r;
        r.bytes = static_cast<std::size_t>(n);
        // Every descriptor received is owned at once, so none leaks if what follows throws.
        for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            const std::size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (std::size_t i = 0; i < k; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                r.fds.emplace_back(fd);
            }
        }
        if (m.msg_flags & MSG_CTRUNC) throw unix_error(EMSGSIZE, "recv_msg", detail::fd_str(socket));
        co_return r;
    }
}

}  // namespace

promise<std::size_t> send_msg(const file_descr& socket, const void* buf, std::size_t len, std::vector<int> fds) {
    detail::check_buffer(buf, len, "send_msg");
    if (len == 0) throw std::invalid_argument("lwt::unix_::send_msg: at least one byte must carry the descriptors");
    if (fds.size() > max_fds) throw std::invalid_argument("lwt::unix_::send_msg: more than 253 descriptors");
    return send_msg_impl(socket.fd(), buf, len, std::move(fds));
}

promise<received_msg> recv_msg(const file_descr& socket, void* buf, std::size_t len) {
    detail::check_buffer(buf, len, "recv_msg");
    return recv_msg_impl(socket.fd(), buf, len);
}

credentials get_credentials(const file_descr& socket) {
    ucred c{};
    socklen_t n = sizeof c;
    if (::getsockopt(socket.fd(), SOL_SOCKET, SO_PEERCRED, &c, &n) != 0)
        detail::throw_errno("get_credentials", detail::fd_str(socket.fd()));
    return {c.pid, c.uid, c.gid};
}

}  // namespace lwt::unix_
