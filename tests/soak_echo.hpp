// The soak suite's echo clients and byte pattern, shared by test_soak.cpp and the client
// process it starts (soak_echo_clients.cpp): ten thousand connections need more descriptors
// than one process may hold when clients and server share it.
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix.hpp>

#include <sys/resource.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace soak {

using lwt::promise;
using lwt::unix_::file_descr;
namespace unix_ = lwt::unix_;

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the soft limit.
inline rlim_t raise_nofile() {
    rlimit r{};
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &r);
        ::getrlimit(RLIMIT_NOFILE, &r);
    }
    return r.rlim_cur;
}

// Byte i of stream s: streams differ from one another everywhere, so a byte delivered to the
// wrong connection, or out of place, shows.
inline unsigned char pattern(std::uint64_t s, std::uint64_t i) {
    std::uint64_t x = (s + 1) * 0x9E3779B97F4A7C15ull + (i >> 3) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return static_cast<unsigned char>(x >> ((i & 7) * 8));
}

// Closing it then resets the connection: no TIME_WAIT, so a million connections do not run
// out of ephemeral ports.
inline void set_linger0(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

inline void abort_close(file_descr& fd) {
    if (fd.is_open()) set_linger0(fd.fd());
    fd = file_descr();
}

inline file_descr tcp_socket() { return unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream); }

// What the clients of one process saw.
struct echo_state {
    std::size_t connected = 0, established = 0, done = 0;
    std::uint64_t bytes = 0;
    std::vector<std::string> failures;
};

inline promise<void> send_all(const file_descr& s, const unsigned char* p, std::size_t n) {
    while (n > 0) {
        std::size_t k = co_await unix_::send(s, p, n);
        p += k;
        n -= k;
    }
}

// Sends chunk [from, from + n) of stream id and checks every byte of its echo.
inline promise<void> exchange(const file_descr& s, std::size_t id, std::uint64_t from, std::size_t n, echo_state& st) {
    std::vector<unsigned char> out(n), in(n);
    for (std::size_t k = 0; k < n; ++k) out[k] = pattern(id, from + k);
    co_await send_all(s, out.data(), n);
    std::size_t got = 0;
    while (got < n) {
        std::size_t k = co_await unix_::recv(s, in.data() + got, n - got);
        if (k == 0) throw std::runtime_error("end of stream after " + std::to_string(from + got) + " bytes");
        got += k;
    }
    for (std::size_t k = 0; k < n; ++k)
        if (in[k] != out[k])
            throw std::runtime_error("byte " + std::to_string(from + k) + " came back wrong");
    st.bytes += n;
}

// One client: announces 4 chunks' worth of bytes, has the first echoed, counts itself
// established, waits for `all_established`, has the other three echoed, and expects the
// server's end of stream.
inline promise<void> echo_client(std::size_t id, unix_::sockaddr addr, promise<void> all_established, echo_state& st) {
    try {
        auto s = tcp_socket();
        co_await unix_::connect(s, addr);
        ++st.connected;
        std::minstd_rand rng(static_cast<unsigned>(id) + 1);
        std::size_t chunks[4];
        std::uint32_t total = 0;
        for (auto& c : chunks) total += static_cast<std::uint32_t>(c = 1 + rng() % 1500);
        unsigned char hdr[4];
        std::memcpy(hdr, &total, 4);
        co_await send_all(s, hdr, 4);
        std::uint64_t at = 0;
        co_await exchange(s, id, at, chunks[0], st);
        at += chunks[0];
        ++st.established;  // the server serves it: wait until it serves every other one too
        co_await all_established;
        for (int c = 1; c < 4; ++c) {
            co_await exchange(s, id, at, chunks[c], st);
            at += chunks[c];
        }
        char b;
        if (co_await unix_::recv(s, &b, 1) != 0) throw std::runtime_error("a byte past the announced count");
        abort_close(s);
        ++st.done;
    } catch (const std::exception& e) {
        st.failures.push_back("connection " + std::to_string(id) + ": " + e.what());
    }
}

}  // namespace soak
