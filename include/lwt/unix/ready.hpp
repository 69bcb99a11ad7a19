// Lwt_unix.wait_read / wait_write / readable / writable: readiness on any descriptor, also
// one lwt++ did not create (a plain int: a socket of libcurl, libpq or c-ares, an inotify
// descriptor, a serial port). This is how a non-blocking C library is driven from the loop:
// wait until its descriptor is ready, then let the library make its own call.
//
//     co_await lwt::unix_::wait_read(fd);     // readable, or at its end, or in error
//     lib_process_input(fd);                   // the library's read: it will not block
//
// A wait is an operation (operation.hpp): started at once, awaited without allocating,
// converted to a promise where one is needed, cancelable (lwt::cancel, pick, with_timeout).
// It reads nothing and changes nothing on the descriptor, so several may wait on one
// descriptor at once (a reader and a writer, or two readers: each completes).
//
// A descriptor lwt++ does not own is the caller's to close -- but cancel its waits first:
// io_uring holds the file open while a wait is in the kernel, so a wait on a descriptor
// closed under it would never complete. (libcurl says so before it closes a socket:
// CURL_POLL_REMOVE.) Its number may then be reused by another file and waited on afresh.
//
// io_uring: one poll request per wait (IORING_OP_POLL_ADD, one-shot: each wait is one
// event). epoll: the descriptor is registered with the loop's epoll set once, edge-triggered,
// and checked again with each wait that has to park (the number may name another file by
// then); the wait completes on the first event after it parked. Neither switches the
// descriptor to O_NONBLOCK.
#pragma once

#include <lwt/unix/fd.hpp>
#include <lwt/unix/operation.hpp>

namespace lwt::unix_ {

// A wait gives nothing; a descriptor that is not open is unix_error EBADF.
using ready_op = fd_op;

// Lwt_unix.wait_read: completes once a read on fd would not block -- bytes (or a connection
// to accept) are waiting, the peer has ended its stream or hung up, or the descriptor has an
// error (the read that follows says which). The bytes stay unread.
LWT_EXPORT ready_op wait_read(int fd);
inline ready_op wait_read(const file_descr& fd) { return wait_read(fd.fd()); }
// Lwt_unix.wait_write: completes once a write on fd would not block (room in its buffer, a
// connection established or refused), or the descriptor has an error or was hung up.
LWT_EXPORT ready_op wait_write(int fd);
inline ready_op wait_write(const file_descr& fd) { return wait_write(fd.fd()); }

// Lwt_unix.readable / writable: whether a read (write) on fd would not block now -- as
// wait_read (wait_write) would complete at once. A poll(2) with no timeout; a descriptor that
// is not open is unix_error EBADF.
LWT_EXPORT bool readable(int fd);
inline bool readable(const file_descr& fd) { return readable(fd.fd()); }
LWT_EXPORT bool writable(int fd);
inline bool writable(const file_descr& fd) { return writable(fd.fd()); }

}  // namespace lwt::unix_
