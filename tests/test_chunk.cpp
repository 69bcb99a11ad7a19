// <lwt/unix/chunk.hpp>: receives into the loop's buffers (unix_::recv_chunk, unix_::chunk).
// Runs on both engines; on io_uring also as older kernels receive (the plain path, one buffer
// per completion, bundles without incremental consumption); with a pool of 2 buffers
// (LWT_RECV_BUFFERS=2), under faults and under the seccomp fallback (tests/meson.build).
#include <lwt/detail/engine.hpp>
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

TEST_CASE("bytes waiting for several buffers come in one completion, one chunk per buffer, in order") {
    if (!engine::receives_bundled()) {
        test::skip("this engine or kernel does not bundle receives (io_uring on 6.10 or later)");
        return;
    }
    auto [a, b] = test::tcp_pair();
    const std::size_t size = detail::io_engine::current().buffers().buffer_size();
    const std::string data = pattern(3, 3 * size + 100);  // (fits in loopback's socket buffers)
    main::run(test::send_all(a, data));
    a = file_descr();
    const std::size_t before = engine::bundled_receives();
    std::string got;
    for (;;) {
        unix_::chunk c = main::run(unix_::recv_chunk(b));
        if (c.empty()) break;
        REQUIRE(c.size() <= size);
        got.append(c.view());
    }
    REQUIRE(got == data);
    REQUIRE(engine::bundled_receives() > before);
    REQUIRE(engine::receive_buffers_lent() == 0);
}

TEST_CASE("small messages on many sockets share buffers where the kernel fills them a receive at a time") {
    if (!engine::receive_buffers_shared()) {
        test::skip("receives do not share buffers here (io_uring's incremental consumption, 6.12 or later)");
        return;
    }
    constexpr std::size_t n = 200, size = 100;  // 20,000 bytes: two buffers of 16 KiB
    std::vector<std::pair<file_descr, file_descr>> pairs;
    for (std::size_t i = 0; i < n; ++i) pairs.push_back(test::tcp_pair());
    for (std::size_t i = 0; i < n; ++i) main::run(test::send_all(pairs[i].first, pattern(i, size)));
    std::vector<unix_::chunk> kept;
    for (std::size_t i = 0; i < n; ++i) {
        std::string got;
        while (got.size() < size) {
            kept.push_back(main::run(unix_::recv_chunk(pairs[i].second)));
            got.append(kept.back().view());
        }
        REQUIRE(got == pattern(i, size));
    }
    const std::size_t per_buffer = detail::io_engine::current().buffers().buffer_size();
    REQUIRE(engine::receive_buffers_lent() <= (n * size + per_buffer - 1) / per_buffer + 1);
    for (std::size_t i = 0, k = 0; i < n; ++i) {  // (every chunk still holds its own bytes)
        std::string got;
        while (got.size() < size) got.append(kept[k++].view());
        REQUIRE(got == pattern(i, size));
    }
    kept.clear();
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
