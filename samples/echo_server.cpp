// echo_server: an echo server -- a plain accept loop, and per connection a receive/send loop
// (no batching tricks). It is also the server the benchmarks measure (build/bench/echo_server,
// beside the hand-written baselines of bench/baselines) and the one `./run demo` drives.
//
//   echo_server [--plain] [--buffer BYTES] [--loops N] PORT   (listens on 127.0.0.1; SIGTERM/SIGINT stop it)
//   try: build/samples/echo_server 9000 & nc 127.0.0.1 9000
//
// A connection receives with unix_::recv_chunk: the bytes land in a buffer the loop lends
// only once they arrive (io_uring: a multishot recv from a provided buffer ring), so an idle
// connection holds no buffer. --plain uses unix_::recv into a buffer of the connection's own
// (--buffer bytes, 16384 by default) instead: the way of every runtime without borrowed
// buffers, kept to compare.
//
// With --loops N (default 1) it runs N loops, one per thread (lwt::loops::run), each with its
// own listening socket on the same port (SO_REUSEPORT): the kernel spreads the connections
// among them, and a connection lives on the loop that accepted it.
//
// LWT_ENGINE=uring|epoll selects the engine.
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

using namespace lwt;

namespace {

std::size_t buffer_size = 16384;
bool plain = false;

promise<void> serve_borrowing(unix_::file_descr conn) {
    try {
        for (;;) {
            unix_::chunk c = co_await unix_::recv_chunk(conn);
            if (c.empty()) break;
            // (The send loop is written out, here and in serve: a coroutine of its own would
            // cost a frame per message.)
            for (std::size_t off = 0; off < c.size();) off += co_await unix_::send(conn, c.data() + off, c.size() - off);
        }  // (each chunk's buffer goes back to the loop here)
    } catch (const unix_::unix_error&) {
        // a client that resets its connection ends only its own loop
    } catch (const canceled&) {
        // the server is stopping
    }
}

promise<void> serve(unix_::file_descr conn) {
    std::unique_ptr<char[]> buf(new char[buffer_size]);
    try {
        for (;;) {
            std::size_t n = co_await unix_::recv(conn, buf.get(), buffer_size);
            if (n == 0) break;
            for (std::size_t off = 0; off < n;) off += co_await unix_::send(conn, buf.get() + off, n - off);
        }
    } catch (const unix_::unix_error&) {
        // a client that resets its connection ends only its own loop
    } catch (const canceled&) {
        // the server is stopping
    }
}

promise<void> accept_loop(const unix_::file_descr& listener) {
    for (;;) {
        // Out of descriptors, this waits (backing off) until connections close, then goes on.
        auto accepted = co_await io::accept_with_backoff(listener);
        try {
            unix_::setsockopt(accepted.first, unix_::socket_bool_option::tcp_nodelay, true);
        } catch (const unix_::unix_error&) {
            continue;  // the client is already gone
        }
        async([conn = std::move(accepted.first)]() mutable {
            return plain ? serve(std::move(conn)) : serve_borrowing(std::move(conn));
        });
    }
}

// One loop: its own listener on the shared port, until a signal stops it.
promise<void> run_loop(int port, bool reuse_port) {
    auto listener = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::setsockopt(listener, unix_::socket_bool_option::so_reuseaddr, true);
    if (reuse_port) unix_::setsockopt(listener, unix_::socket_bool_option::so_reuseport, true);
    unix_::bind(listener, unix_::sockaddr::inet("127.0.0.1", static_cast<std::uint16_t>(port)));
    unix_::listen(listener, 4096);
    if (loops::index() == 0)
        fmt::print(stderr, "echo_server: listening on 127.0.0.1:{} ({} engine, {} loop{}, {} buffers)\n", port,
                   engine::id(), loops::count(), loops::count() == 1 ? "" : "s", plain ? "own" : "borrowed");
    // Each loop handles the signals itself (a handler runs on the loop that installed it).
    auto stop = wait<void>();
    for (int sig : {SIGTERM, SIGINT}) unix_::on_signal(sig, [r = stop.second](int) { if (r.cell()->pending()) r.resolve(); });
    co_await pick(accept_loop(listener), stop.first);
    // What this loop did (lwt::main::stats), one line per loop.
    fmt::print(stderr, "echo_server: loop {}: {}\n", loops::index(), main::stats().to_string());
}

}  // namespace

int main(int argc, char** argv) {
    int port = -1;
    std::size_t n_loops = 1;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--buffer") == 0 && i + 1 < argc)
            buffer_size = std::strtoul(argv[++i], nullptr, 10);
        else if (std::strcmp(argv[i], "--plain") == 0)
            plain = true;
        else if (std::strcmp(argv[i], "--loops") == 0 && i + 1 < argc)
            n_loops = std::strtoul(argv[++i], nullptr, 10);
        else
            port = std::atoi(argv[i]);
    }
    if (port <= 0 || port > 65535 || buffer_size == 0 || n_loops == 0) {
        fmt::print(stderr, "usage: echo_server [--plain] [--buffer BYTES] [--loops N] PORT\n");
        return 2;
    }
    // A failure (the port is taken...) is one line on stderr and exit status 2.
    return main::run_program([&] { loops::run(n_loops, [port, n_loops](std::size_t) { return run_loop(port, n_loops > 1); }); });
}
