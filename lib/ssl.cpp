// Lwt_ssl on OpenSSL. See the header for what each call promises.
//
// The connection. OpenSSL reads and writes the socket itself, through a BIO of ours that
// calls recv and send with MSG_DONTWAIT (and MSG_NOSIGNAL): the descriptor's blocking mode
// is not touched, and EAGAIN comes back to OpenSSL as "retry". Every call (handshake, read,
// write, shutdown) is then the same loop: make the SSL call; done, or OpenSSL wants the
// socket readable (SSL_ERROR_WANT_READ) or writable (WANT_WRITE) -- wait for that on the
// loop (unix_::wait_read / wait_write) and make the call again -- or it failed.
//
// States. `broken`: a call failed, or a write or handshake was cancelled mid-record; no
// close_notify is sent, and later calls fail at once. `shut`: close_notify was sent.
// `reading` / `writing`: one read and one write may be in progress at once (each of them
// may wait on the socket), as OpenSSL allows from one thread; a second of either kind is
// misuse. The socket is closed when the connection goes (its last handle), or by close(), or
// when both channels are closed.
#include <lwt/ssl.hpp>

#include <lwt/unix/ready.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace lwt::ssl {

namespace detail {

struct connection {
    unix_::file_descr fd;
    SSL* ssl = nullptr;
    std::string host;  // what a client verified the certificate against
    int last_errno = 0;  // the BIO's last failed recv/send
    bool reading = false, writing = false;
    bool broken = false, shut = false;
    int channels = 0;  // channels over it still open

    explicit connection(unix_::file_descr f) : fd(std::move(f)) {}
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;
    ~connection() {
        if (ssl != nullptr) SSL_free(ssl);  // (the BIO with it; the descriptor closes itself)
    }
};

}  // namespace detail

using detail::connection;

namespace {

// ---- the BIO: recv and send on the connection's descriptor, never blocking ----

int bio_write(BIO* b, const char* data, int len) {
    auto* c = static_cast<connection*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    ssize_t n;
    do n = ::send(c->fd.fd(), data, static_cast<std::size_t>(len), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0) return static_cast<int>(n);
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_write(b);
    else
        c->last_errno = errno;
    return -1;
}

int bio_read(BIO* b, char* out, int len) {
    auto* c = static_cast<connection*>(BIO_get_data(b));
    BIO_clear_retry_flags(b);
    ssize_t n;
    do n = ::recv(c->fd.fd(), out, static_cast<std::size_t>(len), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    if (n >= 0) return static_cast<int>(n);  // (0: the peer ended its stream)
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        BIO_set_retry_read(b);
    else
        c->last_errno = errno;
    return -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* bio_method() {
    static BIO_METHOD* m = [] {
        BIO_METHOD* x = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lwt socket");
        if (x == nullptr || !BIO_meth_set_write(x, bio_write) || !BIO_meth_set_read(x, bio_read) ||
            !BIO_meth_set_ctrl(x, bio_ctrl) || !BIO_meth_set_create(x, bio_create))
            throw std::bad_alloc();
        return x;
    }();
    return m;
}

// ---- errors ----

// OpenSSL's queued reasons, "; "-joined (the queue is emptied).
std::string openssl_reasons() {
    std::string s;
    while (unsigned long e = ERR_get_error()) {
        const char* r = ERR_reason_error_string(e);
        if (!s.empty()) s += "; ";
        s += r != nullptr ? r : "error " + std::to_string(e);
    }
    return s;
}

// The failure of `call` after SSL_get_error said `e`; `kind` unless the certificate was
// refused.
ssl_error failure(connection& c, int e, const char* call, error_kind kind) {
    c.broken = true;
    if (kind == error_kind::handshake && SSL_get_verify_result(c.ssl) != X509_V_OK) {
        long v = SSL_get_verify_result(c.ssl);
        ERR_clear_error();
        return ssl_error(error_kind::verification, std::string(call) + ": certificate verify failed: " +
                                                       X509_verify_cert_error_string(v) +
                                                       (c.host.empty() ? "" : " (host " + c.host + ")"));
    }
    std::string why = openssl_reasons();
    if (why.empty()) {
        if (e == SSL_ERROR_SYSCALL && c.last_errno != 0)
            why = std::strerror(c.last_errno);
        else if (e == SSL_ERROR_SYSCALL)
            why = "the peer ended the connection";
        else
            why = "SSL error " + std::to_string(e);
    }
    return ssl_error(kind, std::string(call) + ": " + why);
}

[[noreturn]] void setup_failure(const std::string& what) {
    throw ssl_error(error_kind::setup, "lwt::ssl::context::" + what + ": " + openssl_reasons());
}

// One read (or write) at a time: the flag is held for the call's life, cancelled or not.
struct one_at_a_time {
    bool& flag;
    one_at_a_time(bool& f, const char* call) : flag(f) {
        if (flag) throw std::invalid_argument(std::string("lwt::ssl::") + call + ": another " + call + " is in progress");
        flag = true;
    }
    ~one_at_a_time() { flag = false; }
    one_at_a_time(const one_at_a_time&) = delete;
    one_at_a_time& operator=(const one_at_a_time&) = delete;
};

void check_sound(const connection& c, const char* call) {
    if (c.broken)
        throw ssl_error(error_kind::protocol, std::string(call) + ": the connection failed or was cut mid-record before");
}

// What OpenSSL asked for, waited for on the loop: true, or false if it asked for nothing
// (SSL_get_error's `e` is a failure).
promise<bool> wait_as_asked(const connection& c, int e) {
    if (e == SSL_ERROR_WANT_READ) {
        co_await unix_::wait_read(c.fd);
        co_return true;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        co_await unix_::wait_write(c.fd);
        co_return true;
    }
    co_return false;
}

bool is_ip_literal(const std::string& host) {
    unsigned char buf[16];
    return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// ---- the calls ----

promise<socket> handshake(std::shared_ptr<connection> c, const char* call) {
    for (;;) {
        ERR_clear_error();
        int r = SSL_do_handshake(c->ssl);
        if (r == 1) co_return socket(c);
        const int e = SSL_get_error(c->ssl, r);
        bool waited = false;
        try {
            waited = co_await wait_as_asked(*c, e);
        } catch (...) {
            c->broken = true;  // (cancelled mid-handshake)
            throw;
        }
        if (!waited) throw failure(*c, e, call, error_kind::handshake);
    }
}

std::shared_ptr<connection> new_connection(unix_::file_descr fd, const context& ctx, const char* call) {
    if (!fd) throw std::invalid_argument(std::string("lwt::ssl::") + call + ": the descriptor is closed");
    auto c = std::make_shared<connection>(std::move(fd));
    c->ssl = SSL_new(ctx.native_handle());
    BIO* bio = c->ssl != nullptr ? BIO_new(bio_method()) : nullptr;
    if (bio == nullptr) throw ssl_error(error_kind::setup, std::string(call) + ": " + openssl_reasons());
    BIO_set_data(bio, c.get());
    SSL_set_bio(c->ssl, bio, bio);
    return c;
}

promise<std::size_t> read_impl(socket s, void* buf, std::size_t len) {
    connection& c = s.impl();
    one_at_a_time held(c.reading, "read");
    for (;;) {
        check_sound(c, "read");
        ERR_clear_error();
        std::size_t n = 0;
        int r = SSL_read_ex(c.ssl, buf, len, &n);
        if (r == 1) co_return n;
        const int e = SSL_get_error(c.ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN) co_return 0;  // close_notify
        // (A read cancelled while it waits leaves nothing half done: OpenSSL keeps what it
        // has of a record for the next read.)
        const bool waited = co_await wait_as_asked(c, e);
        if (!waited) throw failure(c, e, "read", error_kind::protocol);
    }
}

promise<std::size_t> write_impl(socket s, const void* buf, std::size_t len) {
    connection& c = s.impl();
    one_at_a_time held(c.writing, "write");
    for (;;) {
        check_sound(c, "write");
        if (c.shut) throw ssl_error(error_kind::protocol, "write: after ssl_shutdown");
        ERR_clear_error();
        std::size_t n = 0;
        int r = SSL_write_ex(c.ssl, buf, len, &n);
        if (r == 1) co_return n;  // (all of it: partial writes are not enabled)
        const int e = SSL_get_error(c.ssl, r);
        bool waited = false;
        try {
            waited = co_await wait_as_asked(c, e);
        } catch (...) {
            c.broken = true;  // (cancelled: a record may be half sent, and must be sent again whole)
            throw;
        }
        if (!waited) throw failure(c, e, "write", error_kind::protocol);
    }
}

promise<void> shutdown_impl(socket s) {
    connection& c = s.impl();
    one_at_a_time held(c.writing, "ssl_shutdown");
    if (c.shut) co_return;
    check_sound(c, "ssl_shutdown");
    for (;;) {
        ERR_clear_error();
        int r = SSL_shutdown(c.ssl);  // 0: ours sent; 1: the peer's received too
        if (r >= 0) break;
        const int e = SSL_get_error(c.ssl, r);
        const bool waited = co_await wait_as_asked(c, e);
        if (!waited) throw failure(c, e, "ssl_shutdown", error_kind::protocol);
    }
    c.shut = true;
}

// close_notify where the connection is still sound; a peer that is gone (ssl_error) does
// not stop the close that follows.
promise<void> shutdown_before_close(socket s) {
    connection& c = s.impl();
    if (c.broken || c.shut || !c.fd) co_return;
    try {
        co_await shutdown_impl(s);
    } catch (const ssl_error&) {
    }
}

promise<void> close_impl(socket s) {
    co_await shutdown_before_close(s);
    co_await s.impl().fd.close();
}

// A channel's close: the output channel's sends close_notify; the last one closes the socket.
promise<void> close_channel(socket s, bool output) {
    if (output) co_await shutdown_before_close(s);
    if (--s.impl().channels == 0) co_await s.impl().fd.close();
}

}  // namespace

// ---- context ----

context::context(ssl_ctx_st* ctx) : ctx_(ctx, [](ssl_ctx_st* p) { SSL_CTX_free(p); }) {
    // Writes may be retried from the coroutine's frame wherever it is; TLS 1.2 at least.
    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

context context::client() {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == nullptr) setup_failure("client");
    context c(ctx);
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) setup_failure("client (the system's CAs)");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    return c;
}

context context::server(const std::string& cert_file, const std::string& key_file) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == nullptr) setup_failure("server");
    context c(ctx);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1)
        setup_failure("server: certificate chain \"" + cert_file + "\"");
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1)
        setup_failure("server: private key \"" + key_file + "\"");
    if (SSL_CTX_check_private_key(ctx) != 1) setup_failure("server: the key does not match the certificate");
    return c;
}

void context::load_verify_file(const std::string& ca_file) {
    if (SSL_CTX_load_verify_locations(ctx_.get(), ca_file.c_str(), nullptr) != 1)
        setup_failure("load_verify_file: \"" + ca_file + "\"");
}

void context::set_verify(bool on) {
    const bool server = SSL_CTX_get_ssl_method(ctx_.get()) == TLS_server_method();
    // (A server that verifies asks for a client certificate, and requires one.)
    int mode = !on ? SSL_VERIFY_NONE : server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER;
    SSL_CTX_set_verify(ctx_.get(), mode, nullptr);
}

bool context::verifies() const noexcept { return (SSL_CTX_get_verify_mode(ctx_.get()) & SSL_VERIFY_PEER) != 0; }

// ---- socket ----

int socket::fd() const noexcept { return c_->fd.fd(); }
std::string socket::protocol() const { return SSL_get_version(c_->ssl); }
std::string socket::cipher() const {
    const char* n = SSL_get_cipher_name(c_->ssl);
    return n != nullptr ? n : "";
}
ssl_st* socket::native_handle() const noexcept { return c_->ssl; }

promise<socket> ssl_connect(unix_::file_descr fd, context ctx, std::string host) {
    auto c = new_connection(std::move(fd), ctx, "ssl_connect");
    c->host = host;
    SSL_set_connect_state(c->ssl);
    const bool ip = is_ip_literal(host);
    // (SNI carries names only; an IP address is verified against the certificate's IPs.)
    if (!host.empty() && !ip && SSL_set_tlsext_host_name(c->ssl, host.c_str()) != 1)
        throw std::invalid_argument("lwt::ssl::ssl_connect: host name \"" + host + "\" cannot be sent as SNI");
    if (ctx.verifies()) {
        if (host.empty())
            throw std::invalid_argument("lwt::ssl::ssl_connect: a verifying context needs the host name to verify");
        int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host.c_str())
                    : SSL_set1_host(c->ssl, host.c_str());
        if (ok != 1) throw std::invalid_argument("lwt::ssl::ssl_connect: cannot verify host \"" + host + "\"");
    }
    return handshake(std::move(c), "ssl_connect");
}

promise<socket> ssl_accept(unix_::file_descr fd, context ctx) {
    auto c = new_connection(std::move(fd), ctx, "ssl_accept");
    SSL_set_accept_state(c->ssl);
    return handshake(std::move(c), "ssl_accept");
}

promise<std::size_t> read(socket s, void* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::ssl::read: null buffer");
    if (len == 0) return lwt::return_(std::size_t{0});
    return read_impl(std::move(s), buf, len);
}

promise<std::size_t> write(socket s, const void* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::ssl::write: null buffer");
    if (len == 0) return lwt::return_(std::size_t{0});
    return write_impl(std::move(s), buf, len);
}

promise<void> ssl_shutdown(socket s) { return shutdown_impl(std::move(s)); }

promise<void> close(socket s) { return close_impl(std::move(s)); }

io::input_channel in_channel_of_descr(socket s, std::size_t buffer_size) {
    ++s.impl().channels;
    return io::make(
        io::input, [s](char* b, std::size_t n) { return read(s, b, n); }, [s] { return close_channel(s, false); },
        buffer_size);
}

io::output_channel out_channel_of_descr(socket s, std::size_t buffer_size) {
    ++s.impl().channels;
    return io::make(
        io::output, [s](const char* b, std::size_t n) { return write(s, b, n); },
        [s] { return close_channel(s, true); }, buffer_size);
}

}  // namespace lwt::ssl
