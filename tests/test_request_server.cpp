// io::establish_request_server (<lwt/io/server.hpp>): a handler called once per request, and
// connections that hold no coroutine, channel or buffer between requests. On both engines and
// with io_uring refused (tests/meson.build).
#include <lwt/engine.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

using namespace lwt;
using unix_::file_descr;

namespace {

const auto any_port = unix_::sockaddr::inet("127.0.0.1", 0);

// What the handlers below saw.
struct record {
    int calls = 0;
    std::vector<std::string> requests;
};

// Answers a line "x" with "re: x"; "bye" closes the connection after the answer.
io::request_handler line_handler(record& rec) {
    return [&rec](const unix_::sockaddr&, io::input_channel ic, io::output_channel oc) -> promise<bool> {
        ++rec.calls;
        std::string line = co_await io::read_line(ic);
        rec.requests.push_back(line);
        co_await io::write_line(oc, "re: " + line);
        co_return line != "bye";
    };
}

file_descr connect_to(const io::server& srv) {
    auto s = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    main::run(unix_::connect(s, srv.listening_address()));
    return s;
}


// Reads until `n` bytes came or the stream ended.
promise<std::string> recv_upto(const file_descr& s, std::size_t n) {
    std::string got;
    char buf[256];
    while (got.size() < n) {
        std::size_t k = co_await unix_::recv(s, buf, std::min(sizeof buf, n - got.size()));
        if (k == 0) break;
        got.append(buf, k);
    }
    co_return got;
}

// Reads to the end of the stream.
std::string recv_to_end(const file_descr& s) { return main::run(recv_upto(s, std::size_t(-1))); }

}  // namespace

TEST_CASE("a request server calls its handler once per request on a kept-alive connection") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    auto c = connect_to(srv);
    for (std::string r : {"one", "two", "three"}) {
        main::run(test::send_all(c, r + "\n"));
        REQUIRE(main::run(recv_upto(c, 5 + r.size())) == "re: " + r + "\n");
    }
    REQUIRE(rec.calls == 3);
    REQUIRE(srv.connections() == 1);
    main::run(io::shutdown_server(srv));
}

TEST_CASE("pipelined requests are each handled, in order") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "a\nb\nc\nbye\n"));
    REQUIRE(recv_to_end(c) == "re: a\nre: b\nre: c\nre: bye\n");
    REQUIRE(rec.requests == std::vector<std::string>{"a", "b", "c", "bye"});
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a handler returning false closes the connection after its answer") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "bye\n"));
    REQUIRE(recv_to_end(c) == "re: bye\n");  // the answer, then the end of the stream
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a connection that closes without sending never reaches the handler") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    {
        auto c = connect_to(srv);
        test::settle([&] { return srv.connections() == 1; }, "the server to accept");
    }
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    REQUIRE(rec.calls == 0);
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a peer that resets between requests ends its connection quietly") {
    record rec;
    test::hook_recorder hook;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "x\n"));
    REQUIRE(main::run(recv_upto(c, 6)) == "re: x\n");
    linger reset{1, 0};  // close with a reset
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    c = file_descr();
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    REQUIRE(hook.seen.empty());
    REQUIRE(rec.calls == 1);
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a request handler's failure goes to async_exception_hook and closes its connection") {
    test::hook_recorder hook;
    auto srv = main::run(io::establish_request_server(
        any_port, [](const unix_::sockaddr&, io::input_channel ic, io::output_channel) -> promise<bool> {
            co_await io::read_line(ic);
            throw std::runtime_error("handler failed");
        }));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "boom\n"));
    REQUIRE(recv_to_end(c).empty());
    REQUIRE(hook.seen == std::vector<std::string>{"handler failed"});
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a request handler that closes its output channel ends the connection") {
    auto srv = main::run(io::establish_request_server(
        any_port, [](const unix_::sockaddr&, io::input_channel ic, io::output_channel oc) -> promise<bool> {
            co_await io::read_line(ic);
            co_await io::write_line(oc, "last");
            co_await io::close(oc);
            co_return true;  // (asked to keep it, but the channel is closed)
        }));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "q\n"));
    REQUIRE(recv_to_end(c) == "last\n");
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    main::run(io::shutdown_server(srv));
}

TEST_CASE("a request server's handler is given the peer's address") {
    std::vector<std::string> peers;
    auto srv = main::run(io::establish_request_server(
        any_port, [&peers](const unix_::sockaddr& peer, io::input_channel ic, io::output_channel oc) -> promise<bool> {
            peers.push_back(peer.host());
            co_await io::read_line(ic);
            co_await io::write_line(oc, "ok");
            co_return true;
        }));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "1\n"));
    REQUIRE(main::run(recv_upto(c, 3)) == "ok\n");
    REQUIRE(peers == std::vector<std::string>{"127.0.0.1"});
    main::run(io::shutdown_server(srv));
}

TEST_CASE("max_connections counts a request server's idle connections") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec), {.max_connections = 1}));
    auto first = connect_to(srv);
    main::run(test::send_all(first, "a\n"));
    REQUIRE(main::run(recv_upto(first, 6)) == "re: a\n");  // now idle, still counted
    auto second = connect_to(srv);  // (the kernel completes the handshake; the server waits)
    main::run(test::send_all(second, "b\n"));
    main::run(unix_::sleep(0.05));
    REQUIRE(rec.calls == 1);
    first = file_descr();
    REQUIRE(main::run(recv_upto(second, 6)) == "re: b\n");
    REQUIRE(rec.calls == 2);
    main::run(io::shutdown_server(srv));
}

TEST_CASE("idle connections of a request server hold no coroutine, channel or buffer") {
    // 300 connections, each one request answered, then idle. A coroutine looping over
    // requests (frames), a pair of channels, or a buffer kept per connection would each cost
    // more than the kilobyte allowed here (bench/idle_memory measures what it is).
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < 800 && r.rlim_max >= 800) {
        r.rlim_cur = 800;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
    constexpr std::size_t n = 300;
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec)));
    std::vector<file_descr> clients;
    clients.reserve(n);
    rec.requests.reserve(3 * n);
    // A round of as many connections first, so that what the loop keeps for any number of
    // connections (its pools, and tables indexed by descriptor -- the clients' too, here) has
    // grown before the count starts.
    auto round = [&] {
        for (std::size_t i = 0; i < n; ++i) clients.push_back(connect_to(srv));
        for (auto& c : clients) main::run(test::send_all(c, "ping\n"));
        for (auto& c : clients) REQUIRE(main::run(recv_upto(c, 9)) == "re: ping\n");
        main::run(unix_::sleep(0.01));
    };
    round();
    clients.clear();
    test::settle([&] { return srv.connections() == 0; }, "the first round's connections to end");
    const std::size_t before = test::heap_in_use();
    round();
    const std::size_t after = test::heap_in_use();
    const double per_connection = (static_cast<double>(after) - static_cast<double>(before)) / n;
    INFO("heap per idle connection: " << per_connection << " bytes");
    REQUIRE(per_connection < 1024);
    REQUIRE(engine::receive_buffers_lent() == 0);
    REQUIRE(srv.connections() == n);
    // Idle is not dead: each answers its next request.
    for (auto& c : clients) main::run(test::send_all(c, "again\n"));
    for (auto& c : clients) REQUIRE(main::run(recv_upto(c, 10)) == "re: again\n");
    clients.clear();
    test::settle([&] { return srv.connections() == 0; }, "the connections to end");
    main::run(io::shutdown_server(srv));
    REQUIRE(rec.calls == static_cast<int>(3 * n));
}

TEST_CASE("a request server without borrowed buffers serves the same") {
    record rec;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec), {.borrow_buffers = false}));
    auto c = connect_to(srv);
    main::run(test::send_all(c, "one\n"));
    REQUIRE(main::run(recv_upto(c, 8)) == "re: one\n");
    main::run(test::send_all(c, "two\nbye\n"));
    REQUIRE(recv_to_end(c) == "re: two\nre: bye\n");
    test::settle([&] { return srv.connections() == 0; }, "the connection to end");
    main::run(io::shutdown_server(srv));
}

TEST_CASE("establish_request_server without a handler is a misuse") {
    REQUIRE_THROWS_AS(io::establish_request_server(any_port, nullptr), std::invalid_argument);
}

TEST_CASE("a connection idle past idle_timeout is closed; one that keeps asking is not") {
    using namespace std::chrono_literals;
    const bool borrowed = GENERATE(true, false);
    CAPTURE(borrowed);
    record rec;
    io::server_options o;
    o.idle_timeout = 300ms;
    o.borrow_buffers = borrowed;
    auto srv = main::run(io::establish_request_server(any_port, line_handler(rec), o));
    auto busy = connect_to(srv);
    auto idle = connect_to(srv);
    main::run(test::send_all(idle, "once\n"));
    REQUIRE(main::run(recv_upto(idle, 9)) == "re: once\n");
    const auto t0 = std::chrono::steady_clock::now();
    // The busy client asks every 50 ms for 600 ms: each answer restarts its timeout.
    for (int i = 0; i < 12; ++i) {
        main::run(test::send_all(busy, "ping\n"));
        REQUIRE(main::run(recv_upto(busy, 9)) == "re: ping\n");
        main::run(unix_::sleep(0.05));
    }
    REQUIRE(std::chrono::steady_clock::now() - t0 >= 600ms);
    // The idle one was closed after its 300 ms: its stream has ended (nothing more came).
    REQUIRE(main::run(unix_::with_timeout(5.0, [&] { return recv_upto(idle, 100); })) == "");
    test::settle([&] { return srv.connections() == 1; }, "the idle connection to end");
    REQUIRE(rec.calls == 13);
    main::run(io::shutdown_server(srv));
}

TEST_CASE("an idle_timeout that is not positive is a misuse") {
    record rec;
    io::server_options o;
    o.idle_timeout = std::chrono::nanoseconds(0);
    REQUIRE_THROWS_AS(io::establish_request_server(any_port, line_handler(rec), o), std::invalid_argument);
}

