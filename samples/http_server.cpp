// http_server: an HTTP/1.1 server with keep-alive. "/" answers a fixed response; other paths
// are files served from a directory (GET and HEAD; no path may leave the directory).
//
//   http_server [--plain] [--per-connection] [--root DIR] [--loops N] [--keep-alive SECONDS] PORT
//
// Requests are served by io::establish_request_server: handle_request is called when a
// request arrives and says whether to keep the connection; between requests a connection
// holds no coroutine. Its input channel reads from the loop's receive buffers and its output
// channel gives its buffer back once flushed (io::server_options::borrow_buffers, the
// default), so an idle keep-alive connection holds no buffer either. To compare:
// --per-connection serves each connection with a coroutine looping over its requests (Lwt's
// establish_server_with_client_address); --plain gives each input channel a buffer of its own.
//
// A keep-alive connection that waits longer than --keep-alive seconds (default 30; 0: no
// limit) for its next request is closed (io::server_options::idle_timeout: a Lwt_timeout,
// lwt::timeout_timer, per connection, reset by each request; --per-connection has no limit).
//
// With --loops N (default 1): N loops, one per thread, each with its own server on the same
// port (io::server_options::reuse_port); the kernel spreads the connections among them.
//   try: build/samples/http_server --root . 8080 &
//        curl -v http://127.0.0.1:8080/  ;  curl http://127.0.0.1:8080/README.md
//        wrk -t1 -c64 -d5s http://127.0.0.1:8080/
#include <lwt/lwt.hpp>

#include "http_request.hpp"
#include "lingering_close.hpp"
#include "log_failures.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

using namespace lwt;

namespace {

std::string root = ".";
const std::string fixed_body = "Hello from lwt++\n";

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string content_type(const std::string& path) {
    auto dot = path.rfind('.');
    std::string ext = dot == std::string::npos ? "" : lower(path.substr(dot + 1));
    if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
    if (ext == "txt" || ext == "md" || ext == "cpp" || ext == "hpp") return "text/plain; charset=utf-8";
    if (ext == "css") return "text/css";
    if (ext == "js") return "application/javascript";
    if (ext == "json") return "application/json";
    if (ext == "svg") return "image/svg+xml";
    if (ext == "png") return "image/png";
    return "application/octet-stream";
}

// What a request may cost (http_request.hpp): 8 KiB a line, 32 KiB of head, 100 fields, 1 MiB
// of body. Beyond that, or malformed, the request is answered with its error status and the
// connection closed.
const http::limits limits;

// The request line and headers; std::nullopt when the client closed the connection between
// requests. Each line is read with a limit: a line without end costs at most that much.
promise<std::optional<http::request>> read_request(io::input_channel ic) {
    http::request_parser parser(limits);
    for (;;) {
        std::optional<std::string> line;
        try {
            line = co_await io::read_line_opt(ic, limits.line);
        } catch (const io::line_too_long&) {
            throw http::error(431, "line too long");
        }
        if (!line) {
            if (parser.started()) throw end_of_file();  // cut short
            co_return std::nullopt;
        }
        if (parser.feed(*line)) co_return parser.get();
    }
}

// A body we do not use, read away a buffer at a time (its length is within limits.body).
promise<void> skip_body(io::input_channel ic, std::size_t n) {
    char buf[4096];
    while (n > 0) {
        std::size_t got = co_await io::read_into(ic, buf, std::min(n, sizeof buf));
        if (got == 0) throw end_of_file();
        n -= got;
    }
}

promise<void> respond(io::output_channel oc, int code, const char* reason, const std::string& type,
                      const std::string& body, bool keep_alive, bool head) {
    co_await io::write(oc, fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n", code,
                                       reason, type, body.size(), keep_alive ? "" : "Connection: close\r\n"));
    if (!head) co_await io::write(oc, body);
}

promise<void> serve_file(io::output_channel oc, const http::request& r, bool head) {
    std::string path = r.target.substr(0, r.target.find('?'));
    if (path.find("..") != std::string::npos || path.find('\0') != std::string::npos) {
        co_await respond(oc, 403, "Forbidden", "text/plain", "forbidden\n", r.keep_alive, head);
        co_return;
    }
    std::string file = root + path;
    std::optional<std::string> body;
    try {
        auto st = co_await unix_::stat(file);
        if (st.kind == unix_::file_kind::regular)
            body = co_await io::with_file(io::input, file, [](io::input_channel& ic) { return io::read(ic); });
    } catch (const unix_::unix_error&) {
    }
    if (!body)
        co_await respond(oc, 404, "Not Found", "text/plain", "not found\n", r.keep_alive, head);
    else
        co_await respond(oc, 200, "OK", content_type(file), *body, r.keep_alive, head);
}

// One request: read, answer; whether to keep the connection.
promise<bool> handle_request(const unix_::sockaddr&, io::input_channel ic, io::output_channel oc) {
    std::optional<http::request> r;
    int refused = 0;
    try {
        r = co_await read_request(ic);
    } catch (const end_of_file&) {
        co_return false;  // the client went away mid-request
    } catch (const http::error& e) {
        refused = e.status;
    }
    if (refused != 0) {
        co_await respond(oc, refused, http::reason(refused), "text/plain", fmt::format("{}\n", http::reason(refused)),
                         false, false);
        co_await lingering_close(ic, oc);
        co_return false;
    }
    if (!r) co_return false;
    co_await skip_body(ic, r->content_length);
    bool head = r->method == "HEAD";
    if (r->method != "GET" && !head)
        co_await respond(oc, 405, "Method Not Allowed", "text/plain", "method not allowed\n", r->keep_alive, false);
    else if (r->target == "/")
        co_await respond(oc, 200, "OK", "text/plain; charset=utf-8", fixed_body, r->keep_alive, head);
    else
        co_await serve_file(oc, *r, head);
    co_return r->keep_alive;
}

// --per-connection: a coroutine per connection for as long as it lasts (Lwt's way), idle
// between requests inside read_request.
promise<void> handle_connection(unix_::sockaddr peer, io::input_channel ic, io::output_channel oc) {
    for (bool keep = true; keep;) keep = co_await handle_request(peer, ic, oc);
}

}  // namespace

int main(int argc, char** argv) {
    log_failures("http_server");
    int port = -1;
    std::size_t n_loops = 1;
    bool plain = false, per_connection = false;
    double keep_alive = 30;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--plain") == 0)
            plain = true;
        else if (std::strcmp(argv[i], "--per-connection") == 0)
            per_connection = true;
        else if (std::strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            root = argv[++i];
        else if (std::strcmp(argv[i], "--loops") == 0 && i + 1 < argc)
            n_loops = std::strtoul(argv[++i], nullptr, 10);
        else if (std::strcmp(argv[i], "--keep-alive") == 0 && i + 1 < argc)
            keep_alive = std::strtod(argv[++i], nullptr);
        else
            port = std::atoi(argv[i]);
    }
    if (port <= 0 || port > 65535 || n_loops == 0 || !(keep_alive >= 0)) {
        fmt::print(stderr, "usage: http_server [--plain] [--per-connection] [--root DIR] [--loops N] [--keep-alive SECONDS] PORT\n");
        return 2;
    }
    // A failure (the port is taken...) is one line on stderr and exit status 2.
    return main::run_program([&] { loops::run(n_loops, [port, n_loops, plain, per_connection, keep_alive](std::size_t i) -> promise<void> {
        const auto addr = unix_::sockaddr::inet("127.0.0.1", static_cast<std::uint16_t>(port));
        io::server_options opts{.reuse_port = n_loops > 1, .borrow_buffers = !plain};
        if (keep_alive > 0)
            opts.idle_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(keep_alive));
        // (Not `c ? co_await a : co_await b`, nor co_await of `c ? a : b`: g++ 12 evaluates both.)
        std::optional<io::server> server;
        if (per_connection)
            server.emplace(co_await io::establish_server_with_client_address(addr, handle_connection, opts));
        else
            server.emplace(co_await io::establish_request_server(addr, handle_request, opts));
        if (i == 0)
            co_await io::eprintlf("http_server: serving {} on http://{}/ ({} loop{})", root,
                                  server->listening_address().to_string(), n_loops, n_loops == 1 ? "" : "s");
        // Each loop handles the signals itself (a handler runs on the loop that installed it).
        auto stop = wait<void>();
        for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stop.second](int) { wakeup_later(r); });
        co_await stop.first;
        co_await io::shutdown_server(*server);
    }); });
}
