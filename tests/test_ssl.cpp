// TLS (<lwt/ssl.hpp>, Lwt_ssl) against real peers: lwt++ itself, `openssl s_server`,
// `openssl s_client` and `curl https://`, with certificates made at test time by `openssl
// req`. On both engines (tests/meson.build). Without the openssl program, every case skips.
#include <lwt/lwt.hpp>
#include <lwt/ssl.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <functional>
#include <string>

using namespace lwt;
namespace ssl = lwt::ssl;

namespace {

bool have(const char* program) {
    return std::system((std::string("command -v ") + program + " >/dev/null 2>&1").c_str()) == 0;
}

// A self-signed certificate for localhost and 127.0.0.1 (cert.pem, key.pem), and another one
// nobody trusts (other.pem, other_key.pem), in a directory of their own.
struct certificates {
    test::temp_dir dir;
    std::string cert = dir / "cert.pem", key = dir / "key.pem";
    std::string other = dir / "other.pem", other_key = dir / "other_key.pem";
    bool made = false;
    certificates() {
        if (!have("openssl")) return;
        auto req = [](const std::string& c, const std::string& k) {
            std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
                              " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
                              " -keyout '" + k + "' -out '" + c + "' >/dev/null 2>&1";
            return std::system(cmd.c_str()) == 0;
        };
        made = req(cert, key) && req(other, other_key);
    }
};

// The certificates, or a skip (returns null) where they cannot be made.
const certificates* certs_or_skip() {
    static certificates c;
    if (!c.made) {
        test::skip("the openssl program is missing, or could not make a certificate");
        return nullptr;
    }
    return &c;
}

ssl::context trusting(const certificates& c) {
    auto ctx = ssl::context::client();
    ctx.load_verify_file(c.cert);
    return ctx;
}

// An lwt++ TLS server: each connection is accepted with ssl_accept and handed to `serve`
// (over channels); a failed handshake or a failure of `serve` is recorded in `failures`.
struct tls_server {
    // (Shared: a handler may outlive the server, whose shutdown leaves connections running.
    // Declared first: the server's handler holds it.)
    std::shared_ptr<std::vector<std::string>> failures = std::make_shared<std::vector<std::string>>();
    io::server srv;
    std::uint16_t port;

    using handler = std::function<promise<void>(ssl::socket, io::input_channel, io::output_channel)>;
    tls_server(ssl::context ctx, handler serve)
        : srv(main::run(io::establish_server_with_client_socket(
              unix_::sockaddr::inet("127.0.0.1", 0),
              [failures = failures, ctx, serve](unix_::sockaddr, unix_::file_descr fd) -> promise<void> {
                  std::optional<ssl::socket> s;
                  try {
                      s = co_await ssl::ssl_accept(std::move(fd), ctx);
                  } catch (const std::exception& e) {
                      failures->emplace_back(e.what());
                      co_return;
                  }
                  try {
                      co_await serve(*s, ssl::in_channel_of_descr(*s), ssl::out_channel_of_descr(*s));
                  } catch (const std::exception& e) {
                      failures->emplace_back(e.what());  // (a client that gave up, as some cases make it)
                  }
              }))),
          port(srv.listening_address().port()) {}
    ~tls_server() { main::run(io::shutdown_server(srv)); }
};

// Serves one line: answers it upper-cased, then closes (close_notify).
promise<void> upper_once(ssl::socket, io::input_channel ic, io::output_channel oc) {
    std::string line = co_await io::read_line(ic);
    std::transform(line.begin(), line.end(), line.begin(), [](unsigned char ch) { return std::toupper(ch); });
    co_await io::write_line(oc, line);
    co_await io::close(oc);
    co_await io::close(ic);
}

promise<ssl::socket> connect_tls(std::uint16_t port, ssl::context ctx, std::string host) {
    auto fd = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    co_await unix_::connect(fd, unix_::sockaddr::inet("127.0.0.1", port));
    co_return co_await ssl::ssl_connect(std::move(fd), ctx, host);
}

// The ssl_error p was rejected with (fails the test if it was not).
template <class T>
ssl::ssl_error ssl_failure(const promise<T>& p) {
    REQUIRE(p.state() == lwt::state::rejected);
    try {
        std::rethrow_exception(p.exception());
    } catch (const ssl::ssl_error& e) {
        return e;
    } catch (const std::exception& e) {
        FAIL("rejected with another exception: " << e.what());
    }
    return {};
}

template <class T>
void run_to_end(const promise<T>& p) {
    main::run([p]() -> promise<void> {
        try {
            co_await p;
        } catch (...) {
        }
    });
}

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = unix_::sockaddr::inet("127.0.0.1", 0);
    REQUIRE(::bind(fd, a.raw(), a.size()) == 0);
    auto got = a;
    socklen_t len = unix_::sockaddr::capacity;
    REQUIRE(::getsockname(fd, got.raw(), &len) == 0);
    got.set_size(len);
    ::close(fd);
    return got.port();
}

// Writes d in pieces of 100 kB, then sends close_notify.
promise<void> write_all_then_shut(ssl::socket s, std::string d) {
    for (std::size_t off = 0; off < d.size(); off += 100'000)
        co_await ssl::write(s, d.data() + off, std::min<std::size_t>(100'000, d.size() - off));
    co_await ssl::ssl_shutdown(s);
}

// Reads into *out until close_notify.
promise<void> read_to_end(ssl::socket s, std::string* out) {
    std::vector<char> buf(50'000);
    for (;;) {
        std::size_t n = co_await ssl::read(s, buf.data(), buf.size());
        if (n == 0) break;
        out->append(buf.data(), n);
    }
}

}  // namespace

TEST_CASE("an lwt++ client and server talk TLS through channels, and the end is close_notify") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->cert, c->key), upper_once);
    auto [line, rest, protocol] = main::run([&]() -> promise<std::tuple<std::string, std::optional<std::string>, std::string>> {
        auto s = co_await connect_tls(server.port, trusting(*c), "localhost");
        auto ic = ssl::in_channel_of_descr(s);
        auto oc = ssl::out_channel_of_descr(s);
        co_await io::write_line(oc, "hello tls");
        co_await io::flush(oc);
        std::string l = co_await io::read_line(ic);
        auto r = co_await io::read_line_opt(ic);
        co_return std::tuple{l, r, s.protocol()};
    });
    REQUIRE(line == "HELLO TLS");
    REQUIRE_FALSE(rest.has_value());  // (the server's close_notify: an end, not an error)
    REQUIRE(protocol.rfind("TLSv1.", 0) == 0);
    REQUIRE(server.failures->empty());
}

TEST_CASE("ssl_connect verifies openssl s_server's certificate and host, and lines go both ways") {
    auto c = certs_or_skip();
    if (!c) return;
    const std::uint16_t port = free_port();
    process::options o;
    o.stderr_ = process::redirection::dev_null();
    o.timeout = std::chrono::seconds(30);
    auto server = process::open_process_in({"openssl", "s_server", "-accept", std::to_string(port), "-cert", c->cert,
                                            "-key", c->key, "-rev", "-naccept", "1", "-ign_eof"},
                                           o);
    auto reversed = main::run([&]() -> promise<std::string> {
        while (co_await io::read_line(server.stdout_()) != "ACCEPT") {
        }
        auto s = co_await connect_tls(port, trusting(*c), "localhost");
        auto ic = ssl::in_channel_of_descr(s);
        auto oc = ssl::out_channel_of_descr(s);
        co_await io::write_line(oc, "hello world");
        co_await io::flush(oc);
        std::string r = co_await io::read_line(ic);
        co_await ssl::close(s);
        co_return r;
    });
    REQUIRE(reversed == "dlrow olleh");  // (s_server -rev answers each line reversed)
    server.kill();
    main::run(server.status());
}

TEST_CASE("ssl_accept serves openssl s_client, which verifies lwt++'s certificate") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->cert, c->key), upper_once);
    process::options o;
    o.timeout = std::chrono::seconds(30);
    o.stderr_ = process::redirection::dev_null();
    auto out = main::run(process::pmap(
        {"openssl", "s_client", "-connect", "127.0.0.1:" + std::to_string(server.port), "-CAfile", c->cert,
         "-verify_return_error", "-servername", "localhost", "-verify_hostname", "localhost", "-quiet"},
        "ping over tls\n", o));
    REQUIRE(out == "PING OVER TLS\n");
    REQUIRE(server.failures->empty());
}

TEST_CASE("curl https:// gets its answer from an lwt++ TLS server") {
    auto c = certs_or_skip();
    if (!c) return;
    if (!have("curl")) return test::skip("the curl program is missing");
    tls_server server(ssl::context::server(c->cert, c->key),
                      [](ssl::socket, io::input_channel ic, io::output_channel oc) -> promise<void> {
                          while (!(co_await io::read_line(ic)).empty()) {
                          }
                          co_await io::write(oc, "HTTP/1.1 200 OK\r\nContent-Length: 14\r\nConnection: close\r\n\r\n");
                          co_await io::write(oc, "hello over tls");
                          co_await io::close(oc);
                      });
    const std::string p = std::to_string(server.port);
    process::options o;
    o.timeout = std::chrono::seconds(30);
    auto body = main::run(process::pread({"curl", "-sS", "--cacert", c->cert, "--resolve", "localhost:" + p + ":127.0.0.1",
                                          "https://localhost:" + p + "/"},
                                         o));
    REQUIRE(body == "hello over tls");
}

TEST_CASE("a certificate the client does not trust fails ssl_connect with a verification error") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->other, c->other_key), upper_once);
    auto p = connect_tls(server.port, trusting(*c), "localhost");  // (it trusts cert, not other)
    run_to_end(p);
    auto e = ssl_failure(p);
    REQUIRE(e.kind() == ssl::error_kind::verification);
    REQUIRE_THAT(e.what(), Catch::Contains("ssl_connect: certificate verify failed") && Catch::Contains("localhost"));
}

TEST_CASE("a host name the certificate does not carry fails verification") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->cert, c->key), upper_once);
    auto p = connect_tls(server.port, trusting(*c), "example.org");
    run_to_end(p);
    auto e = ssl_failure(p);
    REQUIRE(e.kind() == ssl::error_kind::verification);
    REQUIRE_THAT(e.what(), Catch::Contains("hostname mismatch"));
}

TEST_CASE("an IP address is verified against the addresses the certificate carries") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->cert, c->key), upper_once);
    auto good = connect_tls(server.port, trusting(*c), "127.0.0.1");
    run_to_end(good);
    REQUIRE(good.state() == lwt::state::fulfilled);
    auto bad = connect_tls(server.port, trusting(*c), "127.0.0.2");
    run_to_end(bad);
    REQUIRE(ssl_failure(bad).kind() == ssl::error_kind::verification);
}

TEST_CASE("a client that does not verify connects to a certificate nobody trusts") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->other, c->other_key), upper_once);
    auto ctx = ssl::context::client();
    ctx.set_verify(false);
    REQUIRE_FALSE(ctx.verifies());
    auto p = connect_tls(server.port, ctx, "localhost");
    run_to_end(p);
    REQUIRE(p.state() == lwt::state::fulfilled);
}

TEST_CASE("a peer that does not speak TLS fails the handshake with a handshake error") {
    auto c = certs_or_skip();
    if (!c) return;
    auto plain = main::run(io::establish_server_with_client_address(
        unix_::sockaddr::inet("127.0.0.1", 0), [](unix_::sockaddr, io::input_channel, io::output_channel oc) -> promise<void> {
            co_await io::write(oc, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }));
    auto p = connect_tls(plain.listening_address().port(), trusting(*c), "localhost");
    run_to_end(p);
    auto e = ssl_failure(p);
    REQUIRE(e.kind() == ssl::error_kind::handshake);
    REQUIRE_THAT(e.what(), Catch::StartsWith("ssl_connect: "));
    main::run(io::shutdown_server(plain));
}

TEST_CASE("a peer that ends its stream without close_notify is a protocol error, not an end") {
    auto c = certs_or_skip();
    if (!c) return;
    tls_server server(ssl::context::server(c->cert, c->key),
                      [](ssl::socket s, io::input_channel, io::output_channel oc) -> promise<void> {
                          co_await io::write_line(oc, "one line");
                          co_await io::flush(oc);
                          ::shutdown(s.fd(), SHUT_RDWR);  // (the TCP stream ends; TLS was not closed)
                      });
    std::string first;
    auto p = main::run([&]() -> promise<promise<std::optional<std::string>>> {
        auto s = co_await connect_tls(server.port, trusting(*c), "localhost");
        auto ic = ssl::in_channel_of_descr(s);
        first = co_await io::read_line(ic);
        co_return io::read_line_opt(ic);
    });
    run_to_end(p);
    REQUIRE(first == "one line");
    auto e = ssl_failure(p);
    REQUIRE(e.kind() == ssl::error_kind::protocol);
}

TEST_CASE("megabytes cross both ways at once: a read waits while a write goes on") {
    auto c = certs_or_skip();
    if (!c) return;
    // The server echoes what it reads; the client writes 4 MiB while it reads them back.
    tls_server server(ssl::context::server(c->cert, c->key),
                      [](ssl::socket s, io::input_channel, io::output_channel) -> promise<void> {
                          std::vector<char> buf(65536);
                          for (;;) {
                              std::size_t n = co_await ssl::read(s, buf.data(), buf.size());
                              if (n == 0) break;
                              co_await ssl::write(s, buf.data(), n);
                          }
                          co_await ssl::ssl_shutdown(s);
                      });
    std::string sent(4 << 20, '\0');
    for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7 + i / 4096);
    std::string got;
    main::run([&]() -> promise<void> {
        auto s = co_await connect_tls(server.port, trusting(*c), "localhost");
        auto writing = write_all_then_shut(s, sent);
        auto reading = read_to_end(s, &got);
        co_await writing;
        co_await reading;
    });
    REQUIRE(got.size() == sent.size());
    REQUIRE(got == sent);
}

TEST_CASE("a second read while one is in progress is std::invalid_argument") {
    auto c = certs_or_skip();
    if (!c) return;
    auto [done, finish] = lwt::wait<void>();
    tls_server server(ssl::context::server(c->cert, c->key),
                      [done = done](ssl::socket, io::input_channel, io::output_channel) -> promise<void> { co_await done; });
    auto s = main::run(connect_tls(server.port, trusting(*c), "localhost"));
    char a[16], b[16];
    auto first = ssl::read(s, a, sizeof a);
    auto second = ssl::read(s, b, sizeof b);
    REQUIRE(first.is_pending());
    REQUIRE(test::rejected_with<std::invalid_argument>(second));
    lwt::cancel(first);
    REQUIRE(test::is_canceled(first));
    finish.resolve();
    main::run(ssl::close(s));
}

TEST_CASE("cancelling a handshake that waits for a silent peer leaves nothing in flight") {
    auto c = certs_or_skip();
    if (!c) return;
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    auto a = unix_::sockaddr::inet("127.0.0.1", 0);
    REQUIRE(::bind(listener, a.raw(), a.size()) == 0);
    REQUIRE(::listen(listener, 4) == 0);
    socklen_t len = unix_::sockaddr::capacity;
    REQUIRE(::getsockname(listener, a.raw(), &len) == 0);
    a.set_size(len);
    auto p = connect_tls(a.port(), trusting(*c), "localhost");
    main::run(unix_::sleep(0.05));
    REQUIRE(p.is_pending());  // (no ServerHello ever comes)
    lwt::cancel(p);
    REQUIRE(test::is_canceled(p));
    test::settle_idle();
    ::close(listener);
}

TEST_CASE("a server context whose files cannot be loaded is ssl_error (setup), naming the file") {
    auto c = certs_or_skip();
    if (!c) return;
    try {
        ssl::context::server(c->cert, c->dir / "missing.pem");
        FAIL("no error");
    } catch (const ssl::ssl_error& e) {
        REQUIRE(e.kind() == ssl::error_kind::setup);
        REQUIRE_THAT(e.what(), Catch::Contains("missing.pem"));
    }
    REQUIRE_THROWS_AS(ssl::context::server(c->cert, c->other_key), ssl::ssl_error);  // (a key of another certificate)
}
