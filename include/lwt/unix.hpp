// Lwt_unix: system calls on this thread's engine (io_uring, or epoll). The umbrella of
// <lwt/unix/...>, one header per concept:
//   error.hpp         unix_error, timeout_error
//   time.hpp          sleep, timeout, with_timeout
//   operation.hpp     operation<K>: a system call in flight, awaited in place
//   fd.hpp            file_descr; read, write, pread, pwrite, readv, writev, close, fsync, lseek, pipe
//   fs.hpp            openfile, stat, the calls on paths, directories
//   sockaddr.hpp      sockaddr
//   socket.hpp        socket, bind, listen, accept, connect, recv, send, recvfrom, sendto, options
//   resolve.hpp       getaddrinfo, getnameinfo
//   signal.hpp        on_signal
//   notification.hpp  make_notification, send_notification
//   waitpid.hpp       waitpid
//   ready.hpp         wait_read, wait_write, readable, writable: readiness on any descriptor
//   fd_passing.hpp    send_msg, recv_msg (descriptors over Unix-domain sockets), get_credentials
//
// Every system call the engine runs gives an `operation`: started at once like a promise and
// completed on the loop, awaited without any allocation, and converted to a promise wherever
// one is needed. Cancelling an operation (lwt::cancel, pick, with_timeout) reaches the
// operation in flight (docs/semantics.md, rule 7): when the cancel returns, the kernel no
// longer touches the buffer; if the kernel had finished first, its result is delivered
// (bytes read), except an accepted or opened descriptor, which is closed and the operation
// reports lwt::canceled.
//
// Buffers passed to an operation must stay valid until its promise settles -- as with any
// asynchronous I/O. Every descriptor the runtime creates is close-on-exec; sends never raise
// SIGPIPE. Failures are lwt::unix_::unix_error (errno, the call, its argument); misuse is
// std::invalid_argument, thrown at the call.
#pragma once

#include <lwt/unix/chunk.hpp>
#include <lwt/unix/error.hpp>
#include <lwt/unix/fd.hpp>
#include <lwt/unix/fd_passing.hpp>
#include <lwt/unix/fs.hpp>
#include <lwt/unix/notification.hpp>
#include <lwt/unix/operation.hpp>
#include <lwt/unix/ready.hpp>
#include <lwt/unix/resolve.hpp>
#include <lwt/unix/signal.hpp>
#include <lwt/unix/sockaddr.hpp>
#include <lwt/unix/socket.hpp>
#include <lwt/unix/time.hpp>
#include <lwt/unix/waitpid.hpp>
