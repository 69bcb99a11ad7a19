// libcurl's multi-socket interface driven by the loop (samples/curl_multi.hpp over
// <lwt/unix/ready.hpp>): a C library that creates, watches and closes its own sockets. On
// both engines (tests/meson.build); the servers are lwt++'s own, or a listening socket that
// never answers.
#include "curl_multi.hpp"

#include <lwt/lwt.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

using namespace lwt;

namespace {

// An lwt++ HTTP server on a port of its own: `answer(path)` gives each request's body (it may
// wait); every response closes its connection.
struct http_server {
    io::server srv;
    std::string base;

    explicit http_server(std::function<promise<std::string>(std::string)> answer)
        : srv(main::run(io::establish_server_with_client_address(
              unix_::sockaddr::inet("127.0.0.1", 0),
              [answer](unix_::sockaddr, io::input_channel ic, io::output_channel oc) -> promise<void> {
                  std::string request = co_await io::read_line(ic);  // GET /path HTTP/1.1
                  while (!(co_await io::read_line(ic)).empty()) {
                  }
                  auto sp = request.find(' ');
                  std::string path = request.substr(sp + 1, request.find(' ', sp + 1) - sp - 1);
                  std::string body = co_await answer(path);
                  co_await io::write(oc, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                                             "\r\nConnection: close\r\n\r\n");
                  co_await io::write(oc, body);
                  co_await io::flush(oc);
              }))) {
        base = "http://127.0.0.1:" + std::to_string(srv.listening_address().port());
    }
    ~http_server() { main::run(io::shutdown_server(srv)); }
};

// A TCP socket of its own bound to a free loopback port; gives "http://127.0.0.1:PORT".
std::string bind_loopback(int fd) {
    auto a = unix_::sockaddr::inet("127.0.0.1", 0);
    REQUIRE(::bind(fd, a.raw(), a.size()) == 0);
    sockaddr_in sin{};
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    return "http://127.0.0.1:" + std::to_string(ntohs(sin.sin_port));
}

// A listening socket nobody accepts from: the kernel completes the handshake, the request is
// sent, and no answer ever comes.
struct silent_server {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    std::string base = bind_loopback(fd);
    silent_server() { REQUIRE(::listen(fd, 16) == 0); }
    ~silent_server() { ::close(fd); }
};

template <class T>
T run_within(promise<T> p, double seconds) {
    return main::run(unix_::with_timeout(seconds, [p] { return p; }));
}

}  // namespace

TEST_CASE("several downloads run at once: the server answers only once every request has arrived") {
    constexpr int n = 4;
    int arrived = 0;
    auto [all_here, everyone] = lwt::wait<void>();
    http_server server([&, all_here = all_here, everyone = everyone](std::string path) -> promise<std::string> {
        if (++arrived == n) everyone.resolve();
        co_await all_here;  // (downloads one after the other would never get past this)
        co_return "body of " + path;
    });
    curl_lwt::multi m;
    std::vector<promise<curl_lwt::response>> downloads;
    for (int i = 0; i < n; ++i) downloads.push_back(m.fetch(server.base + "/" + std::to_string(i)));
    auto got = run_within(lwt::all(downloads), 10.0);
    for (int i = 0; i < n; ++i) {
        CHECK(got[i].status == 200);
        CHECK(got[i].body == "body of /" + std::to_string(i));
    }
    REQUIRE(m.running() == 0);
}

TEST_CASE("a body the server trickles out in pieces arrives whole") {
    std::string big;
    for (int i = 0; big.size() < (1 << 20); ++i) big += std::to_string(i) + ",";
    http_server server([&](std::string) -> promise<std::string> {
        co_await unix_::sleep(0.001);
        co_return big;
    });
    curl_lwt::multi m;
    auto r = run_within(m.fetch(server.base + "/big"), 20.0);
    REQUIRE(r.status == 200);
    REQUIRE(r.body == big);
}

TEST_CASE("a refused connection rejects the download with curl's error and the URL") {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const std::string url = bind_loopback(fd) + "/";  // a port that is free, and stays unlistened
    curl_lwt::multi m;
    auto p = m.fetch(url);
    main::run(lwt::catch_([&] { return lwt::map([](const curl_lwt::response&) {}, p); },
                          [](std::exception_ptr) { return lwt::return_(); }));
    ::close(fd);
    REQUIRE(p.state() == lwt::state::rejected);
    try {
        std::rethrow_exception(p.exception());
    } catch (const curl_lwt::curl_error& e) {
        CHECK(e.code() == CURLE_COULDNT_CONNECT);
        CHECK(std::string(e.what()).rfind(url + ": ", 0) == 0);
    }
}

TEST_CASE("a transfer's timeout fires through libcurl's timer on the loop") {
    silent_server silent;
    curl_lwt::multi m;
    curl_lwt::fetch_options o;
    o.timeout = 0.2;
    const auto t0 = std::chrono::steady_clock::now();
    auto p = m.fetch(silent.base + "/", o);
    main::run(lwt::catch_([&] { return lwt::map([](const curl_lwt::response&) {}, p); },
                          [](std::exception_ptr) { return lwt::return_(); }));
    REQUIRE(p.state() == lwt::state::rejected);
    REQUIRE(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(200));
    try {
        std::rethrow_exception(p.exception());
    } catch (const curl_lwt::curl_error& e) {
        CHECK(e.code() == CURLE_OPERATION_TIMEDOUT);
    }
}

TEST_CASE("a body over its bound fails the download, and says the bound") {
    http_server server([](std::string) { return lwt::return_(std::string(100'000, 'x')); });
    curl_lwt::multi m;
    curl_lwt::fetch_options o;
    o.max_body = 1000;
    auto p = m.fetch(server.base + "/", o);
    main::run(lwt::catch_([&] { return lwt::map([](const curl_lwt::response&) {}, p); },
                          [](std::exception_ptr) { return lwt::return_(); }));
    REQUIRE(p.state() == lwt::state::rejected);
    try {
        std::rethrow_exception(p.exception());
    } catch (const curl_lwt::curl_error& e) {
        CHECK(e.code() == CURLE_WRITE_ERROR);
        CHECK(std::string(e.what()).find("longer than 1000 bytes") != std::string::npos);
    }
}

TEST_CASE("cancelling a download removes it; its socket's wait is gone with it") {
    silent_server silent;
    curl_lwt::multi m;
    auto p = m.fetch(silent.base + "/");
    test::settle([&] { return m.watched_sockets() == 1; }, "libcurl watching its socket");
    REQUIRE(engine::live_operations() >= 1);  // the wait on libcurl's socket
    lwt::cancel(p);
    REQUIRE(test::is_canceled(p));
    REQUIRE(m.running() == 0);
    test::settle([&] { return m.watched_sockets() == 0; }, "libcurl removing its socket");
    test::settle_idle();
}

TEST_CASE("destroying the multi handle cancels its downloads and leaves no wait behind") {
    silent_server silent;
    std::vector<promise<curl_lwt::response>> ps;
    {
        curl_lwt::multi m;
        for (int i = 0; i < 3; ++i) ps.push_back(m.fetch(silent.base + "/" + std::to_string(i)));
        test::settle([&] { return m.watched_sockets() == 3; }, "three sockets watched");
    }
    for (auto& p : ps) REQUIRE(test::is_canceled(p));
    test::settle_idle();
}
