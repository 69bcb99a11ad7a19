// request_timeout: the program of Lwt's README -- an HTTP request raced against a 5-second
// timeout with pick. The host and port are arguments; they default to a local server
// (started by the sample itself when none is given), so it runs offline.
//
//   try: build/samples/request_timeout                 (a local server answers)
//        build/samples/request_timeout example.com     (the network, if you have one; port 80)
//        build/samples/request_timeout HOST PORT
#include <lwt/lwt.hpp>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

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

promise<std::optional<std::string>> timeout() {
    co_await unix_::sleep(5.0);
    co_return std::nullopt;
}

int main(int argc, char** argv) {
    std::optional<io::server> local;
    std::string host = argc > 1 ? argv[1] : "127.0.0.1";
    std::string port = argc > 2 ? argv[2] : "80";
    if (argc <= 1) {
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
