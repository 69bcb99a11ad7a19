// Lwt_unix.send_msg / recv_msg / get_credentials: descriptors passed over a Unix-domain
// socket (SCM_RIGHTS) with the bytes they travel with, and the peer's credentials
// (SO_PEERCRED) -- how a supervisor hands a listening socket to a worker process, or a
// server learns which user connected.
//
// The system call is made without blocking (MSG_DONTWAIT); when it would block, the call
// waits for readiness (unix_::wait_read / wait_write, <lwt/unix/ready.hpp>) and tries again,
// on both engines. Cancelable while it waits.
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/fd.hpp>

#include <sys/types.h>

#include <cstddef>
#include <span>
#include <vector>

namespace lwt::unix_ {

// Lwt_unix.send_msg: sends len bytes (at least one: the descriptors travel with a byte) and
// copies of `fds` (the sender keeps its own; at most 253, the kernel's SCM_MAX_FD). Gives the
// bytes sent (all of them on a stream socket only if the kernel took them at once: send the
// rest with send). Never raises SIGPIPE.
LWT_EXPORT promise<std::size_t> send_msg(const file_descr& socket, const void* buf, std::size_t len,
                                         std::vector<int> fds);

// What recv_msg received: the byte count (0: the peer ended its stream) and the descriptors
// that came with them, owned now (close-on-exec).
// Move-only (said explicitly: a vector of move-only elements claims to be copyable).
struct received_msg {
    std::size_t bytes = 0;
    std::vector<file_descr> fds;
    received_msg() = default;
    received_msg(received_msg&&) noexcept = default;
    received_msg& operator=(received_msg&&) noexcept = default;
    received_msg(const received_msg&) = delete;
    received_msg& operator=(const received_msg&) = delete;
};
// Lwt_unix.recv_msg: up to len bytes and the descriptors sent with them. More descriptors
// than one message may carry is unix_error EMSGSIZE (the kernel closed those it dropped).
LWT_EXPORT promise<received_msg> recv_msg(const file_descr& socket, void* buf, std::size_t len);

// Lwt_unix.credentials, get_credentials: the process at the other end of a connected
// Unix-domain socket, as it was when it connected (or made the socket pair).
struct credentials {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};
LWT_EXPORT credentials get_credentials(const file_descr& socket);

}  // namespace lwt::unix_
