// <lwt/unix/chunk.hpp>: receives into the loop's buffers (unix_::recv_chunk, unix_::chunk).
// Runs on both engines, with io_uring's plain path (LWT_URING_NO_BUF_RING), with a pool of 2
// buffers (LWT_RECV_BUFFERS=2), under faults and under the seccomp fallback (tests/meson.build).
#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "support.hpp"

#include <cstdint>
#include <string>
#include <vector>

using namespace lwt;
using unix_::file_descr;

namespace {

unsigned char byte_of(std::size_t stream, std::size_t i) {
    return static_cast<unsigned char>((i * 131 + stream * 7 + (i >> 8)) & 0xff);
}

std::string pattern(std::size_t stream, std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(byte_of(stream, i));
    return s;
}

// Everything until the end of the stream, chunk by chunk (each released at once).
promise<std::string> drain(const file_descr& s) {
    std::string got;
    for (;;) {
        unix_::chunk c = co_await unix_::recv_chunk(s);
        if (c.empty()) co_return got;
        got.append(c.data(), c.size());
    }
}

}  // namespace

TEST_CASE("recv_chunk gives the bytes sent, in order, then an empty chunk at the end of the stream") {
    auto [a, b] = test::tcp_pair();
    const std::string data = pattern(0, 200'000);
    auto got = drain(b);
    main::run(test::send_all(a, data));
    a = file_descr();
    REQUIRE(main::run(std::move(got)) == data);
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a hundred connections keep their bytes and order when the pool runs dry") {
    // With LWT_RECV_BUFFERS=2 (a meson test of its own) the pool is two buffers: the
    // receives wait for each other's buffers to come back, and nothing is lost.
    constexpr std::size_t n = 100, size = 8 * 1024;
    std::vector<std::pair<file_descr, file_descr>> pairs;
    for (std::size_t i = 0; i < n; ++i) pairs.push_back(test::tcp_pair());
    std::vector<promise<std::string>> got;
    for (auto& p : pairs) got.push_back(drain(p.second));
    std::vector<promise<void>> sent;
    for (std::size_t i = 0; i < n; ++i) sent.push_back(test::send_all(pairs[i].first, pattern(i, size)));
    main::run(join(sent));
    for (auto& p : pairs) p.first = file_descr();
    for (std::size_t i = 0; i < n; ++i) REQUIRE(main::run(got[i]) == pattern(i, size));
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a chunk held across many receives keeps its bytes") {
    auto [a, b] = test::tcp_pair();
    std::string want = "first";
    main::run(test::send_all(a, want));
    unix_::chunk first = main::run(unix_::recv_chunk(b));
    REQUIRE(!first.empty());
    const std::string copy(first.view());
    std::string got = copy;
    // Many more receives, each chunk released at once, while `first` is kept.
    for (int i = 0; i < 100; ++i) {
        const std::string more = pattern(i, 1000);
        want += more;
        main::run(test::send_all(a, more));
        while (got.size() < want.size()) {
            unix_::chunk c = main::run(unix_::recv_chunk(b));
            REQUIRE(!c.empty());
            got.append(c.view());
        }
    }
    REQUIRE(got == want);
    REQUIRE(first.view() == copy);
}

TEST_CASE("a cancelled recv_chunk loses no byte: the next one gets it") {
    auto [a, b] = test::tcp_pair();
    std::string got;
    for (int round = 0; round < 100; ++round) {
        promise<unix_::chunk> waiting = unix_::recv_chunk(b);
        REQUIRE(waiting.is_pending());
        main::run(test::send_all(a, pattern(round, 100)));
        cancel(waiting);  // the bytes may have arrived for it, or not yet
        if (waiting.state() == state::fulfilled) got.append(waiting.value().view());
        while (got.size() < 100 * static_cast<std::size_t>(round + 1)) {
            unix_::chunk c = main::run(unix_::recv_chunk(b));
            got.append(c.view());
        }
    }
    std::string want;
    for (int round = 0; round < 100; ++round) want += pattern(round, 100);
    REQUIRE(got == want);
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(engine::receive_buffers_lent() == 0);  // (every chunk released: every buffer back)
}

TEST_CASE("closing a socket with chunks queued and receives waiting gives every buffer back") {
    auto [a, b] = test::tcp_pair();
    {
        main::run(test::send_all(a, pattern(1, 200'000)));
        unix_::chunk kept = main::run(unix_::recv_chunk(b));
        REQUIRE(!kept.empty());
        promise<unix_::chunk> waiting = unix_::recv_chunk(b);
        main::run(unix_::sleep(0.05));  // (io_uring: more chunks arrive with nobody waiting)
        promise<unix_::chunk> waiting2 = unix_::recv_chunk(b);
        b = file_descr();  // closed under them
        test::settle([&] { return !waiting.is_pending() && !waiting2.is_pending(); }, "the receives to end");
    }
    test::settle_idle();
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(engine::receive_buffers_lent() == 0);
}

TEST_CASE("recv_chunk on a closed descriptor fails with EBADF, naming recv") {
    file_descr closed;
    try {
        main::run(unix_::recv_chunk(closed));
        FAIL("no error");
    } catch (const unix_::unix_error& e) {
        REQUIRE(e.code().value() == EBADF);
        REQUIRE(std::string(e.what()).find("recv") != std::string::npos);
    }
}

TEST_CASE("an idle connection waiting in recv_chunk holds no buffer") {
    std::vector<std::pair<file_descr, file_descr>> pairs;
    std::vector<promise<unix_::chunk>> waits;
    for (int i = 0; i < 200; ++i) {
        pairs.push_back(test::tcp_pair());
        waits.push_back(unix_::recv_chunk(pairs.back().second));
    }
    main::run(unix_::sleep(0.01));
    REQUIRE(engine::receive_buffers_lent() == 0);
    for (auto& w : waits) cancel(w);
    REQUIRE(engine::live_operations() == 0);
}
