// Lwt_io's servers. The server's state holds the listening socket and the accept loop's
// promise (to cancel it); the loop holds the state until it ends. Each accepted connection is
// served by its own coroutine, which holds the state too (the count of active connections) --
// or, in a request server, by a coroutine per burst of requests and none while idle.
#include "channel_impl.hpp"

#include <lwt/condition.hpp>
#include <lwt/io/read.hpp>
#include <lwt/io/write.hpp>
#include <lwt/io/server.hpp>
#include <lwt/timeout.hpp>
#include <lwt/unix/error.hpp>
#include <lwt/unix/socket.hpp>
#include <lwt/unix/chunk.hpp>
#include <lwt/unix/time.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace lwt::detail {

struct server_state {
    unix_::file_descr listener;
    unix_::sockaddr addr;  // as given for a Unix-domain socket, else as bound
    io::server_options opts;
    io::socket_handler handler;
    io::request_handler on_request;  // a request server's (establish_request_server), else empty
    std::size_t active = 0;  // connections whose handler has not settled yet
    bool shut = false;
    std::optional<promise<void>> loop;  // the accept loop while it runs
    lwt::condition<void> slot_freed;
};

}  // namespace lwt::detail

namespace lwt::io {

namespace {

using state_ptr = std::shared_ptr<detail::server_state>;

promise<void> serve_one(state_ptr st, unix_::file_descr fd, unix_::sockaddr peer) {
    try {
        co_await st->handler(peer, std::move(fd));
    } catch (const lwt::canceled&) {
        // cancelled (by shutdown of the program's loop, or by the handler's own choice)
    } catch (...) {
        // The handler's failure goes to the hook; the server goes on (Lwt's behaviour).
        detail::call_async_exception_hook(std::current_exception());
    }
    --st->active;
    st->slot_freed.signal();
}

// ---- request servers ----
//
// A connection of establish_request_server. Between requests, with borrowed buffers, this and
// the receive waiting for the next request are all it holds: no coroutine frame, no buffer, no
// channels. A request's first bytes start serve_requests, which makes a pair of channels over
// the socket (socket_view_channels), puts the bytes in, and calls the handler until the input
// buffered runs out; it flushes the output, lets go of the channels and waits again
// (await_request) -- or closes the connection. Channels still busy (output still being
// flushed) stay with the connection instead, and the next wait is the input channel's own
// (detail::when_input). Without borrowed buffers a connection keeps its channels and waits
// in them.
//
// With opts.idle_timeout, the wait for the next request is bounded: the connection's
// timeout_timer (created at its first wait) is started by each wait and stopped by the
// request's first bytes. Firing, it shuts the socket's reading side down: the wait sees an
// end, as if the client had closed, and the connection ends the usual way (a request racing
// the shutdown is still read: queued bytes stay readable).
struct request_conn {
    state_ptr st;
    unix_::file_descr fd;
    unix_::sockaddr peer;
    std::optional<std::pair<input_channel, output_channel>> ch;
    std::optional<timeout_timer> idle{};  // (its action holds this connection by address: it
                                        // cannot outlive it)
};
using conn_ptr = std::shared_ptr<request_conn>;

promise<void> serve_requests(conn_ptr k, unix_::chunk first);

// Channels over the connection's socket: for a burst of requests, or for good without
// borrowed buffers.
void open_channels(request_conn& k) {
    const server_options& o = k.st->opts;
    k.ch.emplace(detail::socket_view_channels(k.fd.fd(), o.buffer_size, o.borrow_buffers));
    set_line_limit(k.ch->first, o.line_limit);
}

promise<void> end_connection(conn_ptr k) {
    if (k->ch) {
        try {
            co_await close(k->ch->second);
        } catch (...) {
        }
        try {
            co_await close(k->ch->first);
        } catch (...) {
        }
    }
    try {
        co_await k->fd.close();
    } catch (...) {
    }
    --k->st->active;
    k->st->slot_freed.signal();
}

// The end of the stream, a reset or an abort between requests ends the connection quietly:
// no request was under way.
void await_request(conn_ptr k) {
    if (const auto& limit = k->st->opts.idle_timeout) {
        if (!k->idle) k->idle.emplace(*limit, [c = k.get()] { ::shutdown(c->fd.fd(), SHUT_RD); });
        k->idle->start();
    }
    auto next = [](conn_ptr k, std::size_t n, unix_::chunk first) {
        if (k->idle) k->idle->stop();
        if (n > 0)
            lwt::async([k = std::move(k), c = std::move(first)]() mutable { return serve_requests(std::move(k), std::move(c)); });
        else
            lwt::async([k = std::move(k)]() mutable { return end_connection(std::move(k)); });
    };
    if (k->ch) {
        const auto ic = k->ch->first.shared();
        detail::when_input(ic, [k = std::move(k), next](std::size_t n, const std::exception_ptr& error) mutable {
            next(std::move(k), error ? 0 : n, unix_::chunk());
        });
        return;
    }
    promise<unix_::chunk> got = unix_::recv_chunk(k->fd);
    detail::when_received(std::move(got), [k = std::move(k), next](unix_::chunk c, const std::exception_ptr&) mutable {
        const std::size_t n = c.size();  // (0 when it failed, too)
        next(std::move(k), n, std::move(c));
    });
}

promise<void> serve_requests(conn_ptr k, unix_::chunk first) {
    const server_options& o = k->st->opts;
    if (!k->ch) {
        open_channels(*k);
        detail::give_chunk(k->ch->first.impl(), std::move(first));
    }
    // (References into k->ch, which may let the pair go below: not used after that.)
    const input_channel& ic = k->ch->first;
    const output_channel& oc = k->ch->second;
    bool keep = false;
    try {
        do {
            {
                // The call's frame, and the copies of ic and oc in it, go with this promise at
                // the end of the block: a finished coroutine's frame lives as long as its
                // promise, and g++ keeps a co_await's temporary until later.
                promise<bool> handled = k->st->on_request(k->peer, ic, oc);
                keep = co_await handled;
            }
            keep = keep && !is_closed(ic) && !is_closed(oc);
        } while (keep && ic.impl().ptr < ic.impl().max);  // (pipelined: the next is here already)
        // What the handler wrote goes out before the connection lets go of its channels.
        if (keep && oc.impl().ptr > 0) co_await flush(oc);
    } catch (const lwt::canceled&) {
        keep = false;
    } catch (...) {
        detail::call_async_exception_hook(std::current_exception());
        keep = false;
    }
    if (!keep) {
        co_await end_connection(std::move(k));
        co_return;
    }
    if (o.borrow_buffers && detail::idle_pair(ic, oc)) k->ch.reset();
    await_request(std::move(k));
}

void start_requests(state_ptr st, unix_::file_descr fd, const unix_::sockaddr& peer) {
    auto k = std::make_shared<request_conn>(request_conn{std::move(st), std::move(fd), peer, std::nullopt});
    if (!k->st->opts.borrow_buffers) open_channels(*k);
    await_request(std::move(k));
}

promise<void> accept_loop(state_ptr st) {
    // The state holds this loop's promise (to cancel it) and the loop holds the state: when
    // the loop ends, it lets go of its promise so that the pair is freed.
    struct forget_loop {
        detail::server_state& s;
        ~forget_loop() { s.loop.reset(); }
    } forget{*st};
    while (!st->shut) {
        if (st->opts.max_connections != 0 && st->active >= st->opts.max_connections) {
            co_await st->slot_freed.wait();
            continue;
        }
        std::optional<std::pair<unix_::file_descr, unix_::sockaddr>> conn;
        try {
            conn.emplace(co_await accept_with_backoff(st->listener));
        } catch (const lwt::canceled&) {
            co_return;
        } catch (const unix_::unix_error&) {
            if (!st->shut) detail::call_async_exception_hook(std::current_exception());
            co_return;
        }
        if (st->opts.no_delay && conn->second.family() != AF_UNIX) {
            try {
                unix_::setsockopt(conn->first, unix_::socket_bool_option::tcp_nodelay, true);
            } catch (const unix_::unix_error&) {
            }
        }
        ++st->active;
        if (st->on_request) {
            start_requests(st, std::move(conn->first), conn->second);
            continue;
        }
        lwt::async([st, c = std::move(conn->first), peer = conn->second]() mutable {
            return serve_one(st, std::move(c), peer);
        });
    }
}

promise<server> establish(unix_::sockaddr addr, socket_handler handler, server_options opts,
                          request_handler on_request = {}) {
    auto st = std::make_shared<detail::server_state>();
    auto domain = static_cast<unix_::socket_domain>(addr.family());
    st->listener = unix_::socket(domain, unix_::socket_type::stream);
    if (domain != unix_::socket_domain::unix_) {
        unix_::setsockopt(st->listener, unix_::socket_bool_option::so_reuseaddr, true);
        if (opts.reuse_port) unix_::setsockopt(st->listener, unix_::socket_bool_option::so_reuseport, true);
    }
    unix_::bind(st->listener, addr);
    unix_::listen(st->listener, opts.backlog);
    st->addr = domain == unix_::socket_domain::unix_ ? addr : unix_::getsockname(st->listener);
    st->opts = opts;
    st->handler = std::move(handler);
    st->on_request = std::move(on_request);
    auto loop = accept_loop(st);
    if (loop.is_pending()) st->loop.emplace(std::move(loop));  // (ended at once: nothing to cancel)
    co_return server(st);
}

promise<void> handle_with_channels(client_handler handler, const server_options& opts, unix_::sockaddr peer,
                                   unix_::file_descr fd) {
    auto ch = detail::socket_channels(std::move(fd), opts.buffer_size, opts.borrow_buffers);
    set_line_limit(ch.first, opts.line_limit);
    try {
        co_await handler(peer, ch.first, ch.second);
    } catch (const lwt::canceled&) {
    } catch (...) {
        // Reported before the connection is closed, so the client sees the close after it.
        detail::call_async_exception_hook(std::current_exception());
    }
    // Closed in every case (a second close of a channel the handler closed is harmless).
    try {
        co_await close(ch.second);
    } catch (...) {
    }
    try {
        co_await close(ch.first);
    } catch (...) {
    }
}

}  // namespace

promise<server> establish_server_with_client_socket(const unix_::sockaddr& addr, socket_handler handler,
                                                    server_options options) {
    if (!handler) throw std::invalid_argument("lwt::io::establish_server: no handler");
    return establish(addr, std::move(handler), options);
}

promise<server> establish_server_with_client_address(const unix_::sockaddr& addr, client_handler handler,
                                                     server_options options) {
    if (!handler) throw std::invalid_argument("lwt::io::establish_server: no handler");
    return establish(
        addr,
        [handler = std::move(handler), options](unix_::sockaddr peer, unix_::file_descr fd) {
            return handle_with_channels(handler, options, peer, std::move(fd));
        },
        options);
}

promise<server> establish_request_server(const unix_::sockaddr& addr, request_handler handler, server_options options) {
    if (!handler) throw std::invalid_argument("lwt::io::establish_request_server: no handler");
    if (options.idle_timeout && *options.idle_timeout <= std::chrono::nanoseconds::zero())
        throw std::invalid_argument("lwt::io::establish_request_server: idle_timeout must be positive");
    return establish(addr, {}, options, std::move(handler));
}

promise<std::pair<unix_::file_descr, unix_::sockaddr>> accept_with_backoff(const unix_::file_descr& listener) {
    constexpr std::int64_t min_backoff = 10'000'000, max_backoff = 1'000'000'000;
    std::int64_t backoff = min_backoff;
    for (;;) {
        try {
            co_return co_await unix_::accept(listener);
        } catch (const unix_::unix_error& e) {
            switch (e.error()) {
                case ECONNABORTED:
                case EINTR:
                case EPROTO:
                    continue;  // that client gave up: the next one
                case EMFILE:
                case ENFILE:
                case ENOBUFS:
                case ENOMEM:
                    break;  // out of descriptors or memory: wait below, then try again
                default:
                    throw;
            }
        }
        co_await unix_::sleep(std::chrono::nanoseconds(backoff));
        backoff = std::min(backoff * 2, max_backoff);
    }
}

unix_::sockaddr server::listening_address() const { return s_->addr; }
std::size_t server::connections() const { return s_->active; }

promise<void> shutdown_server(const server& srv) {
    auto& st = srv.impl();
    if (st.shut) return lwt::return_();
    st.shut = true;
    if (st.loop) {
        auto loop = *st.loop;
        cancel(loop);
    }
    st.slot_freed.broadcast();
    if (st.addr.family() == AF_UNIX) {
        std::string path = st.addr.host();
        if (!path.empty() && path[0] != '@') ::unlink(path.c_str());
    }
    return st.listener.close();
}

}  // namespace lwt::io
