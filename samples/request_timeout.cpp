// request_timeout: the program of Lwt's README -- an HTTP request raced against a 5-second
// timeout with pick. The host and port are arguments; they default to a local server
// (started by the sample itself when none is given), so it runs offline. With --tls (where
// lwt++ has TLS: <lwt/ssl.hpp>), the request goes over HTTPS: the server's certificate is
// verified against the system's CAs (and --cafile's) and the host name.
//
//   try: build/samples/request_timeout                 (a local server answers)
//        build/samples/request_timeout example.com     (the network, if you have one; port 80)
//        build/samples/request_timeout HOST PORT
//        build/samples/request_timeout --tls example.com            (port 443)
//        build/samples/request_timeout --tls --cafile CA.pem HOST PORT
#include <lwt/lwt.hpp>
#if LWT_SAMPLE_TLS
#include <lwt/ssl.hpp>
#endif

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

using namespace lwt;

promise<std::optional<std::string>> request(std::string host, std::string port) {
    unix_::getaddrinfo_options hints;
    hints.socktype = unix_::socket_type::stream;
    auto addresses = co_await unix_::getaddrinfo(host, port, hints);
    if (addresses.empty()) throw std::runtime_error("cannot resolve " + host);
    co_return co_await io::with_connection(addresses[0].addr,
                                           [&](io::input_channel& ic, io::output_channel& oc) -> promise<std::optional<std::string>> {
                                               co_await io::write(oc, "GET / HTTP/1.1\r\nHost: " + host + "\r\n");
                                               co_await io::write(oc, "Connection: close\r\n\r\n");
                                               co_return co_await io::read(ic);
                                           });
}

#if LWT_SAMPLE_TLS
// The same request over TLS: connect, ssl_connect (SNI and verification), then the same
// channels' calls.
promise<std::optional<std::string>> request_tls(std::string host, std::string port, ssl::context ctx) {
    unix_::getaddrinfo_options hints;
    hints.socktype = unix_::socket_type::stream;
    auto addresses = co_await unix_::getaddrinfo(host, port, hints);
    if (addresses.empty()) throw std::runtime_error("cannot resolve " + host);
    const auto& addr = addresses[0].addr;
    auto fd = unix_::socket(static_cast<unix_::socket_domain>(addr.family()), unix_::socket_type::stream);
    co_await unix_::connect(fd, addr);
    ssl::socket s = co_await ssl::ssl_connect(std::move(fd), ctx, host);
    auto ic = ssl::in_channel_of_descr(s);
    auto oc = ssl::out_channel_of_descr(s);
    co_await io::write(oc, "GET / HTTP/1.1\r\nHost: " + host + "\r\n");
    co_await io::write(oc, "Connection: close\r\n\r\n");
    co_await io::flush(oc);
    co_return co_await io::read(ic);
}
#endif

promise<std::optional<std::string>> timeout() {
    co_await unix_::sleep(5.0);
    co_return std::nullopt;
}

int main(int argc, char** argv) {
    std::optional<io::server> local;
    bool tls = false;
    std::string cafile;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--tls")
            tls = true;
        else if (a == "--cafile" && i + 1 < argc)
            cafile = argv[++i];
        else
            args.push_back(a);
    }
#if !LWT_SAMPLE_TLS
    if (tls) {
        std::fprintf(stderr, "request_timeout: --tls: this lwt++ was built without OpenSSL\n");
        return 2;
    }
#endif
    if (tls && args.empty()) {
        std::fprintf(stderr, "usage: request_timeout --tls [--cafile CA.pem] HOST [PORT]\n");
        return 2;
    }
    std::string host = args.size() > 0 ? args[0] : "127.0.0.1";
    std::string port = args.size() > 1 ? args[1] : tls ? "443" : "80";
    if (args.empty()) {
        // A tiny local HTTP server to talk to.
        local = main::run(io::establish_server_with_client_address(
            unix_::sockaddr::inet("127.0.0.1", 0), [](unix_::sockaddr, io::input_channel ic, io::output_channel oc) -> promise<void> {
                while (auto line = co_await io::read_line_opt(ic))
                    if (line->empty()) break;
                co_await io::write(oc, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n");
            }));
        port = std::to_string(local->listening_address().port());
    }
    std::optional<std::string> response;
    try {
#if LWT_SAMPLE_TLS
        if (tls) {
            auto ctx = ssl::context::client();
            if (!cafile.empty()) ctx.load_verify_file(cafile);
            response = main::run(pick(request_tls(host, port, ctx), timeout()));
        } else
#endif
            response = main::run(pick(request(host, port), timeout()));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "Request failed: %s\n", e.what());
        if (local) main::run(io::shutdown_server(*local));
        return 2;
    }
    if (local) main::run(io::shutdown_server(*local));
    if (!response) {
        std::fprintf(stderr, "Request timed out\n");
        return 1;
    }
    std::fputs(response->c_str(), stdout);
    return 0;
}
