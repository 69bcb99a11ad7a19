// tls_echo_server: an echo server over TLS (lwt::ssl, Lwt_ssl): each connection's handshake
// is ssl_accept, then its lines are echoed through Lwt_io channels over the TLS connection --
// io::read_line and io::write_line, unchanged -- until the client ends (close_notify).
//
//   tls_echo_server --cert CERT.pem --key KEY.pem [PORT]      (default port 7443)
//
//   try: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1
//          -subj /CN=localhost -addext subjectAltName=DNS:localhost -keyout key.pem -out cert.pem
//        build/samples/tls_echo_server --cert cert.pem --key key.pem 7443 &
//        openssl s_client -connect 127.0.0.1:7443 -CAfile cert.pem -verify_hostname localhost -quiet
#include <lwt/lwt.hpp>
#include <lwt/ssl.hpp>

#include "log_failures.hpp"

#include <csignal>
#include <cstdlib>
#include <exception>
#include <string>

using namespace lwt;

namespace {

promise<void> echo(ssl::context ctx, unix_::file_descr fd) {
    ssl::socket s = co_await ssl::ssl_accept(std::move(fd), ctx);
    auto ic = ssl::in_channel_of_descr(s);
    auto oc = ssl::out_channel_of_descr(s);
    while (auto line = co_await io::read_line_opt(ic)) co_await io::write_line(oc, *line);
    co_await io::close(oc);  // (close_notify)
    co_await io::close(ic);
}

int usage() {
    std::fputs("usage: tls_echo_server --cert CERT.pem --key KEY.pem [PORT]\n", stderr);
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    log_failures("tls_echo_server");
    std::string cert, key;
    int port = 7443;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--cert" && i + 1 < argc)
            cert = argv[++i];
        else if (a == "--key" && i + 1 < argc)
            key = argv[++i];
        else if (a[0] != '-')
            port = std::atoi(a.c_str());
        else
            return usage();
    }
    if (cert.empty() || key.empty() || port <= 0 || port > 65535) return usage();
    try {
        auto ctx = ssl::context::server(cert, key);
        return main::run_program([ctx, port]() -> promise<void> {
            auto server = co_await io::establish_server_with_client_socket(
                unix_::sockaddr::inet("127.0.0.1", static_cast<std::uint16_t>(port)),
                [ctx](unix_::sockaddr, unix_::file_descr fd) { return echo(ctx, std::move(fd)); });
            co_await io::eprintlf("tls_echo_server: listening on {}", server.listening_address().to_string());
            auto stop = wait<void>();
            for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stop.second](int) { wakeup_later(r); });
            co_await stop.first;
            co_await io::shutdown_server(server);
        });
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tls_echo_server: %s\n", e.what());
        return 1;
    }
}
