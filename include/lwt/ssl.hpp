// Lwt_ssl: TLS over a socket, on OpenSSL -- handshakes (ssl_connect, ssl_accept), reading and
// writing, a clean shutdown, and Lwt_io channels over the connection, so io::read_line and
// io::write_line work unchanged. Built when OpenSSL is found (Meson option `ssl`); not part of
// <lwt/lwt.hpp>, as Lwt_ssl is a package of its own.
//
//     auto ctx = lwt::ssl::context::client();                       // the system's CAs
//     auto fd = unix_::socket(...); co_await unix_::connect(fd, addr);
//     lwt::ssl::socket s = co_await lwt::ssl::ssl_connect(std::move(fd), ctx, "example.com");
//     auto ic = lwt::ssl::in_channel_of_descr(s);
//     auto oc = lwt::ssl::out_channel_of_descr(s);
//     co_await io::write_line(oc, "GET / HTTP/1.0\r");
//
// Verification is on by default for clients: the server's certificate must chain to a
// trusted CA and carry the host name given to ssl_connect (which is also sent as SNI). A
// failure is ssl_error with kind() == verification and says why (OpenSSL's reason).
//
// How it waits: OpenSSL makes its own recv and send (non-blocking, MSG_DONTWAIT -- the
// descriptor's mode is left alone; sends never raise SIGPIPE); when it needs the socket to
// be readable or writable, the coroutine waits with unix_::wait_read / wait_write (see
// <lwt/unix/ready.hpp>) and OpenSSL tries again. Every wait is cancelable: cancelling a
// handshake, a read or a write leaves the connection unusable (the TLS stream is mid-record);
// close it.
//
// One reader and one writer may work at once (a read waiting while a write goes on), as on
// a plain socket; two reads at once, or two writes, are std::invalid_argument.
#pragma once

#include <lwt/detail/config.hpp>
#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/fd.hpp>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

// OpenSSL's types, declared as OpenSSL declares them (SSL_CTX and SSL), so that this header
// needs no OpenSSL header.
struct ssl_ctx_st;
struct ssl_st;

namespace lwt::ssl {

// What failed.
enum class error_kind {
    verification,  // the peer's certificate: untrusted, expired, not for this host...
    handshake,     // the handshake: no common protocol or cipher, a peer that is not TLS...
    protocol,      // after the handshake: a bad record, a peer that ended without close_notify
    setup,         // a context: a certificate or key file that cannot be loaded
};

// A TLS failure: its kind, and what OpenSSL said, with the call ("ssl_connect: certificate
// verify failed (hostname mismatch)").
class LWT_EXPORT ssl_error : public std::runtime_error {
public:
    ssl_error() : ssl_error(error_kind::protocol, "lwt::ssl: TLS error") {}
    ssl_error(error_kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
    error_kind kind() const noexcept { return kind_; }

private:
    error_kind kind_;
};

// Ssl.context: the settings connections are made with (a cheap, copyable handle to an
// SSL_CTX). TLS 1.2 at least.
class LWT_EXPORT context {
public:
    // A client's: verifies servers against the system's trusted CAs (and those added with
    // load_verify_file).
    static context client();
    // A server's, with its certificate chain and private key (PEM files); ssl_error (setup)
    // if they cannot be loaded or do not match.
    static context server(const std::string& cert_file, const std::string& key_file);

    // Trusts the CAs (or self-signed certificates) of this PEM file too.
    void load_verify_file(const std::string& ca_file);
    // Whether a client verifies the server's certificate and host name (default: true). Off,
    // a connection is encrypted but not authenticated: for tests and trusted networks only.
    void set_verify(bool on);
    bool verifies() const noexcept;

    // The SSL_CTX, for settings this class does not name (ciphers, ALPN, client
    // certificates...).
    ssl_ctx_st* native_handle() const noexcept { return ctx_.get(); }

private:
    explicit context(ssl_ctx_st* ctx);
    std::shared_ptr<ssl_ctx_st> ctx_;
};

namespace detail {
struct connection;
}

// Lwt_ssl.socket: a TLS connection over a socket it owns (closed when the last handle --
// this one, its copies, its channels -- goes). A cheap, copyable handle.
class LWT_EXPORT socket {
public:
    int fd() const noexcept;                  // Lwt_ssl.get_unix_fd
    std::string protocol() const;             // "TLSv1.3"
    std::string cipher() const;               // "TLS_AES_256_GCM_SHA384"
    ssl_st* native_handle() const noexcept;   // Lwt_ssl.ssl_socket
    detail::connection& impl() const noexcept { return *c_; }
    explicit socket(std::shared_ptr<detail::connection> c) noexcept : c_(std::move(c)) {}

private:
    std::shared_ptr<detail::connection> c_;
};

// Lwt_ssl.ssl_connect: the client's handshake on a connected socket. `host` is sent as SNI
// and, when the context verifies, must be a name (or IP address) the certificate carries.
LWT_EXPORT promise<socket> ssl_connect(unix_::file_descr fd, context ctx, std::string host);
// Lwt_ssl.ssl_accept: the server's handshake on an accepted socket.
LWT_EXPORT promise<socket> ssl_accept(unix_::file_descr fd, context ctx);

// Lwt_ssl.read: 1..len bytes, or 0 once the peer has closed the connection (close_notify).
// A peer that ends its stream without close_notify is ssl_error (protocol): the data may
// have been cut short.
LWT_EXPORT promise<std::size_t> read(socket s, void* buf, std::size_t len);
// Lwt_ssl.write: all len bytes (given back).
LWT_EXPORT promise<std::size_t> write(socket s, const void* buf, std::size_t len);
// Lwt_ssl.ssl_shutdown: sends close_notify (the peer's reads then end); nothing may be
// written afterwards. Does not wait for the peer's.
LWT_EXPORT promise<void> ssl_shutdown(socket s);
// Lwt_ssl.close: ssl_shutdown where the connection is still sound, then closes the socket.
LWT_EXPORT promise<void> close(socket s);

// Lwt_ssl.in_channel_of_descr / out_channel_of_descr: Lwt_io channels over the connection.
// Closing the output channel sends close_notify; closing both channels closes the socket
// (as close() does); channels dropped unclosed leave it to the last handle.
LWT_EXPORT io::input_channel in_channel_of_descr(socket s, std::size_t buffer_size = 0);
LWT_EXPORT io::output_channel out_channel_of_descr(socket s, std::size_t buffer_size = 0);

}  // namespace lwt::ssl
