// Lwt_io's servers: a listening socket whose accepted connections are handed to a handler,
// as channels or as the socket itself.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/fd.hpp>
#include <lwt/unix/sockaddr.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace lwt::detail {
struct server_state;
}  // namespace lwt::detail

namespace lwt::io {

struct server_options {
    int backlog = 1024;
    std::size_t buffer_size = 0;
    // At most this many connections handled at once (0: no limit); the accept loop waits for
    // one to end before accepting more.
    std::size_t max_connections = 0;
    bool no_delay = true;  // TCP_NODELAY on accepted TCP connections
    // The line_limit of each connection's input channel (see <lwt/io/read.hpp>): a peer that
    // never sends a newline costs at most this much. 0: no limit.
    std::size_t line_limit = 64 * 1024;
    // SO_REUSEPORT: several servers (one per loop, see <lwt/loops.hpp>) listen on the same
    // address and the kernel spreads the connections among them. Every one of them must ask
    // for it.
    bool reuse_port = false;
    // Each connection's input channel reads from the loop's receive buffers (unix_::recv_chunk)
    // and holds no buffer while idle. false: a buffer of its own, as a channel over any other
    // descriptor (to compare).
    bool borrow_buffers = true;
    // A request server's keep-alive timeout (establish_request_server): a connection that
    // waits this long for its next request is closed (an lwt::timeout_timer per connection,
    // started when a request has been answered, stopped when the next one's first bytes
    // arrive). None: connections may stay idle for as long as their clients like.
    std::optional<std::chrono::nanoseconds> idle_timeout{};
};

// Lwt_io.server.
class LWT_EXPORT server {
public:
    explicit server(std::shared_ptr<detail::server_state> s) : s_(std::move(s)) {}
    // Where it listens (with the port chosen by the system when 0 was asked).
    unix_::sockaddr listening_address() const;
    // Connections being handled now.
    std::size_t connections() const;
    detail::server_state& impl() const { return *s_; }

private:
    std::shared_ptr<detail::server_state> s_;
};

using client_handler = std::function<promise<void>(unix_::sockaddr, input_channel, output_channel)>;
using socket_handler = std::function<promise<void>(unix_::sockaddr, unix_::file_descr)>;
// A request server's handler: reads one request from ic, answers on oc, and says whether to
// keep the connection. `peer` lives as long as the connection.
using request_handler = std::function<promise<bool>(const unix_::sockaddr& peer, input_channel, output_channel)>;

// Lwt_io.establish_server_with_client_address: listens on addr (SO_REUSEADDR) and calls
// handler(client, ic, oc) for each connection; when the handler's promise settles both
// channels are closed (again, if the handler closed them). A handler's failure goes to
// lwt::async_exception_hook and its connection is still closed. Connections are accepted with
// accept_with_backoff: the server keeps serving once descriptors are free again.
LWT_EXPORT promise<server> establish_server_with_client_address(const unix_::sockaddr& addr, client_handler handler,
                                                                server_options options = {});
// Lwt_io.establish_server_with_client_socket: the same with the connected socket, which the
// server closes when the handler's promise settles (unless the handler took it).
LWT_EXPORT promise<server> establish_server_with_client_socket(const unix_::sockaddr& addr, socket_handler handler,
                                                               server_options options = {});
// A server for request-response protocols (HTTP/1.1 keep-alive, Redis, memcached; beyond
// Lwt) whose idle connections hold no coroutine, channel or buffer. handler(peer, ic, oc) is
// called each time a connection has input buffered, never before: it reads one request and
// writes the answer, then returns true to keep the connection or false to close it. Input
// left buffered (pipelined requests) calls it again at once; otherwise the server flushes oc
// and the connection waits for its next request holding no coroutine frame and, with
// borrow_buffers, neither channels nor a buffer: under 1 KiB per idle connection (bench/
// idle_memory.sh), where a handler looping over requests keeps its frames and channels for as
// long as the client stays. So ic and oc are the handler's for the call only: the next call
// may get new ones (over the same socket, nothing lost between them); do not keep them.
// The connection is closed (oc flushed, then the socket) when the handler returns false,
// fails (the failure goes to lwt::async_exception_hook), is cancelled or closes a channel
// (closing oc half-closes the socket at once), or when the peer ends or resets the stream
// between requests. Options as establish_server_with_client_address; max_connections
// counts idle connections too.
LWT_EXPORT promise<server> establish_request_server(const unix_::sockaddr& addr, request_handler handler,
                                                   server_options options = {});
// Accepts a connection on `listener`, riding out what a busy server meets (beyond Lwt, for
// accept loops written by hand): a client that gave up before its turn (ECONNABORTED, EPROTO)
// or EINTR is skipped, and running out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
// ENOMEM) waits -- 10 ms, doubling up to 1 s -- and tries again, so that the server goes on once
// connections close. Other errors reject as unix_::accept does. Cancelable.
LWT_EXPORT promise<std::pair<unix_::file_descr, unix_::sockaddr>> accept_with_backoff(const unix_::file_descr& listener);

// Lwt_io.shutdown_server: closes the listening socket (removing a Unix-domain socket's file);
// connections already accepted keep working.
LWT_EXPORT promise<void> shutdown_server(const server& s);

}  // namespace lwt::io
