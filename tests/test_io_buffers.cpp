// Lwt_io channels on borrowed buffers (lib/io/channel_impl.hpp, "Buffers belong to data"): a
// socket's input channel reads from the loop's receive buffers (unix_::recv_chunk), and a
// channel holds a buffer only while it has bytes in it. Lwt_io's semantics stay: every reader
// at every chunking, over a real socket, on both engines (tests/meson.build).
#include <lwt/engine.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <sys/resource.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace lwt;
using unix_::file_descr;

namespace {


promise<void> send_in_pieces(file_descr s, std::string d, std::size_t k) {
    for (std::size_t off = 0; off < d.size(); off += k) {
        const std::size_t n = std::min(k, d.size() - off);
        co_await test::send_all(s, d.substr(off, n));
        co_await unix_::sleep(0.0005);
    }
}

// A socket channel whose peer sends `data` in pieces of `piece` bytes, letting the loop run
// between them (so that they arrive, mostly, as separate receives), then closes.
io::input_channel sent_in_pieces(const std::string& data, std::size_t piece) {
    auto [a, b] = test::tcp_pair();
    auto [ic, oc] = io::of_socket(std::move(b));
    io::close(oc);  // (our output side is not used)
    lwt::dont_wait([a = std::move(a), data, piece]() mutable { return send_in_pieces(std::move(a), data, piece); },
                   [](std::exception_ptr) {});
    return ic;
}

}  // namespace

TEST_CASE("every reader gives the same over a socket channel at every chunking") {
    const std::string text = "0123456789\nabcdefghij\r\nklmnopqrstuvwxyz\n\nlast";
    for (std::size_t piece = 1; piece <= text.size(); piece += 3) {
        INFO("piece " << piece);
        REQUIRE(main::run(io::read(sent_in_pieces(text, piece))) == text);
        auto ic = sent_in_pieces(text, piece);
        REQUIRE(main::run(io::read_char(ic)) == '0');
        REQUIRE(main::run(io::read_line(ic)) == "123456789");
        char buf[5];
        main::run(io::read_into_exactly(ic, buf, 5));
        REQUIRE(std::string(buf, 5) == "abcde");
        REQUIRE(main::run(io::read_line(ic)) == "fghij");
        std::vector<std::string> rest;
        main::run([&]() -> promise<void> {
            while (auto l = co_await io::read_line_opt(ic)) rest.push_back(*l);
        });
        REQUIRE(rest == std::vector<std::string>{"klmnopqrstuvwxyz", "", "last"});
        REQUIRE_THROWS_AS(main::run(io::read_char(ic)), end_of_file);
    }
}

TEST_CASE("binary numbers split across receives are read whole from a socket channel") {
    std::string data;
    for (std::uint32_t v : {0x01020304u, 0xdeadbeefu, 7u}) {
        for (int i = 3; i >= 0; --i) data.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    for (std::size_t piece = 1; piece <= 5; ++piece) {
        auto ic = sent_in_pieces(data, piece);
        REQUIRE(main::run(io::BE::read_int32(ic)) == 0x01020304);
        REQUIRE(static_cast<std::uint32_t>(main::run(io::BE::read_int32(ic))) == 0xdeadbeefu);
        REQUIRE(main::run(io::BE::read_int32(ic)) == 7);
    }
}

TEST_CASE("a socket channel waiting for a line holds no receive buffer") {
    std::vector<std::pair<io::input_channel, io::output_channel>> chans;
    std::vector<file_descr> peers;
    std::vector<promise<std::string>> lines;
    for (int i = 0; i < 100; ++i) {
        auto [a, b] = test::tcp_pair();
        peers.push_back(std::move(a));
        chans.push_back(io::of_socket(std::move(b)));
        lines.push_back(io::read_line(chans.back().first));
    }
    main::run(unix_::sleep(0.01));
    REQUIRE(engine::receive_buffers_lent() == 0);
    // Half a line each: the channels now hold those bytes (in the loop's buffers or their
    // own), and still wait.
    for (auto& p : peers) main::run(test::send_all(p, "hal"));
    main::run(unix_::sleep(0.01));
    for (auto& l : lines) REQUIRE(l.is_pending());
    for (auto& p : peers) main::run(test::send_all(p, "f\n"));
    for (auto& l : lines) REQUIRE(main::run(l) == "half");
    // Every byte read: nothing borrowed any more.
    REQUIRE(engine::receive_buffers_lent() == 0);
    for (auto& c : chans) main::run(io::close(c.first));
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("idle socket channels keep no buffer once their data is read and written") {
    // 500 connections, each a request line in and an answer out, then idle: if either
    // channel kept its buffer (4096 bytes each), the heap would hold over 4 KiB more per
    // connection.
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < 1200 && r.rlim_max >= 1200) {
        r.rlim_cur = 1200;
        ::setrlimit(RLIMIT_NOFILE, &r);
    }
    constexpr std::size_t n = 500;
    std::vector<file_descr> peers;
    std::vector<std::pair<io::input_channel, io::output_channel>> chans;
    peers.reserve(n);
    chans.reserve(n);
    std::vector<promise<std::string>> waiting;
    waiting.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        auto [a, b] = test::tcp_pair();
        peers.push_back(std::move(a));
        chans.push_back(io::of_socket(std::move(b)));
    }
    main::run(unix_::sleep(0.001));
    const std::size_t before = test::heap_in_use();
    for (std::size_t i = 0; i < n; ++i) main::run(test::send_all(peers[i], "ping\n"));
    for (auto& [ic, oc] : chans) {
        REQUIRE(main::run(io::read_line(ic)) == "ping");
        main::run(io::write_line(oc, "pong"));
        main::run(io::flush(oc));
        waiting.push_back(io::read_line(ic));  // idle from now on
    }
    main::run(unix_::sleep(0.01));
    const std::size_t after = test::heap_in_use();
    const double per_connection = (static_cast<double>(after) - static_cast<double>(before)) / n;
    INFO("heap per idle connection: " << per_connection << " bytes");
    REQUIRE(per_connection < 2048);  // (what it is goes to bench/idle_memory)
    REQUIRE(engine::receive_buffers_lent() == 0);
    for (auto& p : peers) {
        char pong[5];  // (read, so that closing sends the end of the stream, not a reset)
        for (std::size_t got = 0; got < sizeof pong;) got += main::run(unix_::recv(p, pong + got, sizeof pong - got));
        p = file_descr();
    }
    for (auto& w : waiting) REQUIRE_THROWS_AS(main::run(w), end_of_file);
}

TEST_CASE("abort of a socket channel fails the read waiting in the loop's receive with channel_closed") {
    for (bool use_abort : {true, false}) {
        auto [a, b] = test::tcp_pair();
        auto [ic, oc] = io::of_socket(std::move(b));
        auto line = io::read_line(ic);
        auto queued = io::read_char(ic);
        REQUIRE(line.is_pending());
        main::run(use_abort ? io::abort(ic) : io::close(ic));
        REQUIRE(test::rejected_with<io::channel_closed>(line));
        REQUIRE(test::rejected_with<io::channel_closed>(queued));
        main::run(io::close(oc));
        REQUIRE(engine::live_operations() == 0);
        REQUIRE(engine::receive_buffers_lent() == 0);
    }
}

TEST_CASE("closing a socket channel with received bytes unread gives its buffer back") {
    auto [a, b] = test::tcp_pair();
    auto [ic, oc] = io::of_socket(std::move(b));
    main::run(test::send_all(a, "one\ntwo\nthree\n"));
    REQUIRE(main::run(io::read_line(ic)) == "one");  // "two\nthree\n" stay in the channel
    main::run(io::close(ic));
    main::run(io::close(oc));
    REQUIRE(engine::receive_buffers_lent() == 0);
}
