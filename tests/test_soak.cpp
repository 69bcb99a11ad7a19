// The soak suite (issue 14): the runtime held under load, under races and at teardown, on the
// engine this run selected.
//
// The scale comes from LWT_SOAK_SCALE: 1 is full scale -- 10,000 concurrent echo connections,
// 1,000,000 cancel-versus-complete races for each of recv, accept, connect and sleep, 10,000
// pending operations of each kind at a loop's teardown, and a flood of 2,000 clients on a
// server out of descriptors. The meson suite runs a reduced scale (tests/meson.build); `./run
// soak` runs full scale on both engines. Unset, the scale is 0.01.
//
// Each test case prints one line, "soak [engine, scale]: ...", with what held and how long it
// took (./run soak collects them).
#include <lwt/bind.hpp>
#include <lwt/engine.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>
#include <lwt/preemptive.hpp>
#include <lwt/process.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "net_support.hpp"
#include "soak_echo.hpp"
#include "support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace lwt;
using unix_::file_descr;
using accepted = std::pair<file_descr, unix_::sockaddr>;
using clock_type = std::chrono::steady_clock;
using namespace soak;

namespace {

// ---------------------------------------------------------------------------------------
// Scale, limits, measures.

double scale() {
    static const double s = [] {
        const char* e = std::getenv("LWT_SOAK_SCALE");
        double v = e != nullptr ? std::strtod(e, nullptr) : 0.01;
        return v > 0 ? v : 0.01;
    }();
    return s;
}

// `full` at this run's scale, and at least `at_least`.
std::size_t scaled(double full, std::size_t at_least) {
    auto n = static_cast<std::size_t>(std::llround(full * scale()));
    return std::max(n, at_least);
}

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
    return tv(ru.ru_utime) + tv(ru.ru_stime);
}

long peak_rss_mib() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

void report(const std::string& line) {
    std::printf("soak [%s, scale %g]: %s (peak RSS so far %ld MiB)\n", std::string(engine::id()).c_str(), scale(),
                line.c_str(), peak_rss_mib());
    std::fflush(stdout);
}

// Restores the RLIMIT_NOFILE it found, at the end of the scope.
struct nofile_restorer {
    rlimit saved{};
    nofile_restorer() { ::getrlimit(RLIMIT_NOFILE, &saved); }
    ~nofile_restorer() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

// Descriptors this process may still open under a soft limit of `limit`.
std::size_t room_for(rlim_t limit, std::size_t slack) {
    auto used = static_cast<std::size_t>(test::open_fds()) + slack;
    return limit > used ? static_cast<std::size_t>(limit) - used : 0;
}

// ---------------------------------------------------------------------------------------
// Bytes and raw sockets.

bool wait_fd(int fd, short events, int ms) {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, ms) == 1;
}

void set_nonblock(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// A connect outside the runtime (the socket becomes non-blocking), waiting at most 5 s.
bool raw_connect(int fd, const unix_::sockaddr& a) {
    set_nonblock(fd);
    if (::connect(fd, a.raw(), a.size()) == 0) return true;
    if (errno != EINPROGRESS) return false;
    if (!wait_fd(fd, POLLOUT, 5000)) return false;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err == 0;
}

bool is_connected(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    return ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0;
}

// The highest descriptor open in this process.
int highest_fd() {
    int top = -1;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        int own = ::dirfd(d);
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.' && std::atoi(e->d_name) != own) top = std::max(top, std::atoi(e->d_name));
        ::closedir(d);
    }
    return top;
}

file_descr tcp_listener(int backlog) {
    auto l = tcp_socket();
    unix_::bind(l, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(l, backlog);
    return l;
}

// A listener that does not answer: its backlog (0) is full, so SYNs to it are dropped and
// connects to it stay pending. Empty when this kernel answers anyway.
struct silent_listener {
    file_descr l, filler[4];
    unix_::sockaddr addr;
    std::string why_not;
    silent_listener() {
        l = tcp_listener(0);
        addr = unix_::getsockname(l);
        // Fill the accept queue (a backlog of 0 holds one or two connections).
        for (auto& f : filler) {
            f = tcp_socket();
            set_nonblock(f.fd());
            (void)::connect(f.fd(), addr.raw(), addr.size());
        }
        auto probe = tcp_socket();
        set_nonblock(probe.fd());
        (void)::connect(probe.fd(), addr.raw(), addr.size());
        if (wait_fd(probe.fd(), POLLOUT, 200)) {
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(probe.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
            why_not = err == 0 ? "a connect to a listener with a full backlog completed here"
                               : std::string("a connect to a listener with a full backlog failed here: ") + std::strerror(err);
        }
        abort_close(probe);
    }
    ~silent_listener() {
        for (auto& f : filler) abort_close(f);
    }
};

// Busy-waits `us` microseconds without running the loop (the kernel's completion may be
// queued meanwhile).
void spin_us(int us) {
    auto until = clock_type::now() + std::chrono::microseconds(us);
    while (clock_type::now() < until) {
    }
}

// A failed check in a loop of a million: one FAIL with the race's description, and no
// assertion counted on success.
#define SOAK_CHECK(cond, msg)                   \
    do {                                        \
        if (!(cond)) FAIL(msg << " [" #cond "]"); \
    } while (0)

}  // namespace

// =======================================================================================
// Echo: N concurrent connections.

namespace {

// Echoes exactly the byte count announced in the first 4 bytes, then ends (the server closes
// first, so the client's side leaves no TIME_WAIT behind).
promise<void> echo_handler(unix_::sockaddr, io::input_channel ic, io::output_channel oc) {
    char hdr[4];
    co_await io::read_into_exactly(ic, hdr, 4);
    std::uint32_t left;
    std::memcpy(&left, hdr, 4);
    char buf[2048];
    while (left > 0) {
        std::size_t n = co_await io::read_into(ic, buf, std::min<std::size_t>(left, sizeof buf));
        if (n == 0) throw std::runtime_error("echo: end of stream before the announced bytes");
        co_await io::write_from_exactly(oc, buf, n);
        co_await io::flush(oc);
        left -= static_cast<std::uint32_t>(n);
    }
}

// The client program beside this test's executable (tests/soak_echo_clients.cpp).
std::string echo_clients_program() {
    std::string self(4096, '\0');
    auto len = ::readlink("/proc/self/exe", self.data(), self.size());
    REQUIRE(len > 0);
    self.resize(static_cast<std::size_t>(len));
    return self.substr(0, self.rfind('/') + 1) + "soak_echo_clients";
}

// A line of the client process, within `seconds`.
std::string line_of(const process::process_full& p, double seconds, const char* what) {
    auto line = main::run(unix_::with_timeout(seconds, [&] { return io::read_line_opt(p.stdout_()); }));
    INFO("the client process, waiting for " << what);
    REQUIRE(line.has_value());
    return *line;
}

}  // namespace

TEST_CASE("ten thousand concurrent echo connections bring every byte back to its own client") {
    // The clients run in a process of their own: each side then holds one descriptor per
    // connection, so that 10,000 fit under a hard RLIMIT_NOFILE of 20,000 (here).
    const auto t0 = clock_type::now();
    const std::size_t want = scaled(10'000, 20);
    const rlim_t limit = raise_nofile();
    const int fds0 = test::open_fds();
    const std::size_t n = std::min(want, room_for(limit, 64));
    REQUIRE(n > 0);
    test::hook_recorder hooks;
    io::server_options opts;
    opts.backlog = 4096;
    auto srv = main::run(io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", 0), echo_handler, opts));
    const auto port = srv.listening_address().port();
    process::options popts;
    popts.timeout = std::chrono::seconds(600);
    auto clients = process::open_process_full({echo_clients_program(), std::to_string(port), std::to_string(n)}, popts);
    const std::string established = line_of(clients, 300, "every connection's first echo");
    const std::size_t held = srv.connections();
    const int fds_held = test::open_fds();
    main::run(io::write_line(clients.stdin_(), "go"));
    main::run(io::flush(clients.stdin_()));
    const std::string done = line_of(clients, 300, "every connection to finish");
    std::string failures;
    while (auto more = main::run(io::read_line_opt(clients.stdout_()))) failures += "\n" + *more;
    const std::string errors = main::run(unix_::with_timeout(60, [&] { return io::read(clients.stderr_()); }));
    const auto status = main::run(clients.close());
    INFO("the client process said: " << established << "; " << done << failures << "\n" << errors);
    REQUIRE(established == "established " + std::to_string(n) + " 0");
    REQUIRE(held == n);
    REQUIRE(fds_held >= fds0 + static_cast<int>(n));
    REQUIRE(done.rfind("done ", 0) == 0);
    REQUIRE(done.substr(done.rfind(' ')) == " 0");
    REQUIRE(status.success());
    test::settle([&] { return srv.connections() == 0; }, "the server to close every connection", 60);
    main::run(io::shutdown_server(srv));
    test::settle_idle();
    REQUIRE(hooks.seen.empty());
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    const std::string bytes = done.substr(5, done.rfind(' ') - 5);
    report(std::to_string(n) + " concurrent echo connections held (server count " + std::to_string(held) + "), " +
           bytes + " bytes echoed and checked, in " + std::to_string(seconds_since(t0)) + " s");
    if (n < want)
        test::skip("RLIMIT_NOFILE's hard limit (" + std::to_string(limit) + ") allows " + std::to_string(n) +
                   " of the " + std::to_string(want) + " connections");
}

// =======================================================================================
// Cancel-versus-complete races.

namespace {

// Counts how often p settles.
template <class T>
void count_settlements(const promise<T>& p, int& settled) {
    on_termination(p, [&settled] { ++settled; });
}

template <class T>
promise<int> tag(promise<T> p, int v) {
    if constexpr (std::is_void_v<T>)
        return lwt::map([v] { return v; }, std::move(p));
    else
        return lwt::map([v](const auto&) { return v; }, std::move(p));
}

struct mode_tally {
    std::size_t fulfilled = 0, cancelled = 0;
};

std::string tallies(const std::vector<mode_tally>& t) {
    std::string s;
    for (std::size_t m = 0; m < t.size(); ++m)
        s += (m ? ", " : "") + std::string("mode ") + std::to_string(m) + ": " + std::to_string(t[m].fulfilled) + "/" +
             std::to_string(t[m].cancelled);
    return s + " (fulfilled/cancelled)";
}

}  // namespace

TEST_CASE("a million recvs raced against their cancellation lose no byte and leak nothing") {
    // Modes: 0 cancel at once, nothing sent; 1 bytes already there, cancel at once; 2 bytes
    // sent, cancel at once; 3 one loop iteration, bytes sent, cancel; 4 bytes sent, one
    // iteration, cancel; 5 bytes sent, the recv picked against a pause (cancelled inside the
    // loop); 6 bytes sent, a pause for the kernel's completion to be queued, cancel.
    const auto t0 = clock_type::now();
    const std::size_t races = scaled(1'000'000, 700);
    const int fds0 = test::open_fds();
    std::vector<mode_tally> tally(7);
    std::uint64_t sent = 0, got = 0;
    {
        auto pair = test::tcp_pair();
        file_descr& a = pair.first;  // the peer, which sends
        file_descr& b = pair.second;  // the end the races read
        std::minstd_rand rng(14);
        unsigned char out[64], in[64], tmp[4096];
        auto send_some = [&](std::size_t m) {
            for (std::size_t k = 0; k < m; ++k) out[k] = pattern(0, sent + k);
            SOAK_CHECK(::send(a.fd(), out, m, MSG_NOSIGNAL) == static_cast<ssize_t>(m), "the peer's send");
            sent += m;
        };
        auto take = [&](const unsigned char* p, std::size_t n, std::size_t race, const char* where) {
            for (std::size_t k = 0; k < n; ++k)
                SOAK_CHECK(p[k] == pattern(0, got + k), "race " << race << ": byte " << got + k << " " << where << " is wrong");
            got += n;
        };
        for (std::size_t i = 0; i < races; ++i) {
            const int mode = static_cast<int>(i % 7);
            const std::size_t m = 1 + rng() % 48, len = 1 + rng() % 64;
            int settled = 0;
            if (mode == 1) send_some(m);
            promise<std::size_t> r = unix_::recv(b, in, len);
            count_settlements(r, settled);
            switch (mode) {
                case 0:
                    cancel(r);
                    send_some(m);
                    break;
                case 1:
                    cancel(r);
                    break;
                case 2:
                    send_some(m);
                    cancel(r);
                    break;
                case 3:
                    main::run(lwt::pause());
                    send_some(m);
                    cancel(r);
                    break;
                case 4:
                    send_some(m);
                    main::run(lwt::pause());
                    cancel(r);
                    break;
                case 5:
                    send_some(m);
                    main::run(pick(tag(r, 0), tag(lwt::pause(), 1)));
                    break;
                default:
                    main::run(lwt::pause());
                    send_some(m);
                    spin_us(static_cast<int>(rng() % 20));
                    cancel(r);
                    break;
            }
            SOAK_CHECK(!r.is_pending(), "race " << i << " (mode " << mode << "): pending after its cancel");
            SOAK_CHECK(settled == 1, "race " << i << " (mode " << mode << "): settled " << settled << " times");
            if (r.state() == lwt::state::fulfilled) {
                SOAK_CHECK(r.value() > 0 && r.value() <= len, "race " << i << ": a recv of " << len << " gave " << r.value());
                take(in, r.value(), i, "returned by the recv");
                ++tally[mode].fulfilled;
            } else {
                SOAK_CHECK(test::is_canceled(r), "race " << i << " (mode " << mode << "): rejected, not cancelled");
                ++tally[mode].cancelled;
            }
            // What the recv did not return is still readable, in order.
            while (got < sent) {
                ssize_t k = ::recv(b.fd(), tmp, sizeof tmp, MSG_DONTWAIT);
                if (k > 0) {
                    take(tmp, static_cast<std::size_t>(k), i, "left readable");
                } else {
                    SOAK_CHECK(k < 0 && errno == EAGAIN, "race " << i << ": the socket failed or ended");
                    SOAK_CHECK(wait_fd(b.fd(), POLLIN, 5000),
                               "race " << i << " (mode " << mode << "): " << sent - got << " bytes lost");
                }
            }
            SOAK_CHECK(engine::live_operations() == 0, "race " << i << ": an operation left behind");
            if ((i & 0xffff) == 0) SOAK_CHECK(test::open_fds() == fds0 + 2, "race " << i << ": descriptors leaked");
        }
        SOAK_CHECK(::recv(b.fd(), tmp, sizeof tmp, MSG_DONTWAIT) < 0, "bytes nobody sent");
    }
    REQUIRE(got == sent);
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    std::size_t f = 0, c = 0;
    for (auto& t : tally) f += t.fulfilled, c += t.cancelled;
    // Both outcomes happened: the races were run, not avoided.
    REQUIRE(f > 0);
    REQUIRE(c > 0);
    report(std::to_string(races) + " recv races: " + std::to_string(f) + " fulfilled, " + std::to_string(c) +
           " cancelled; " + std::to_string(sent) + " bytes sent, all received in order; " + tallies(tally) + "; " +
           std::to_string(seconds_since(t0)) + " s");
}

TEST_CASE("a million accepts raced against their cancellation give every connection back or close it") {
    // Modes: 0 no client, cancel at once; 1 client queued first, cancel at once; 2 client
    // connects, cancel at once; 3 one loop iteration, client connects, cancel; 4 client
    // connects, one iteration, cancel; 5 client connects, the accept picked against a pause.
    // A connection the cancelled accept did not return is either still queued (a later accept
    // gets it, before a sentinel connection made after it) or was closed by the runtime (the
    // client sees the end of the stream): never lost, never leaked.
    const auto t0 = clock_type::now();
    const std::size_t races = scaled(1'000'000, 600);
    const int fds0 = test::open_fds();
    std::vector<mode_tally> tally(6);
    std::size_t still_queued = 0, closed_by_runtime = 0;
    {
        auto l = tcp_listener(4096);
        const auto addr = unix_::getsockname(l);
        std::minstd_rand rng(15);
        // The next connection out of the listener, within 5 s.
        auto next_accept = [&](std::size_t race) {
            try {
                return main::run(unix_::with_timeout(5.0, [&] { return promise<accepted>(unix_::accept(l)); }));
            } catch (const unix_::timeout_error&) {
                FAIL("race " << race << ": no connection to accept within 5 s");
                throw;
            }
        };
        for (std::size_t i = 0; i < races; ++i) {
            const int mode = static_cast<int>(i % 6);
            std::optional<file_descr> c;
            auto connect_client = [&] {
                c.emplace(tcp_socket());
                SOAK_CHECK(raw_connect(c->fd(), addr), "race " << i << ": the client's connect");
            };
            if (mode == 1) connect_client();
            std::optional<promise<accepted>> acc(unix_::accept(l));
            int settled = 0;
            count_settlements(*acc, settled);
            switch (mode) {
                case 0:
                case 1:
                    cancel(*acc);
                    break;
                case 2:
                    connect_client();
                    cancel(*acc);
                    break;
                case 3:
                    main::run(lwt::pause());
                    connect_client();
                    cancel(*acc);
                    break;
                case 4:
                    connect_client();
                    main::run(lwt::pause());
                    cancel(*acc);
                    break;
                default:
                    connect_client();
                    main::run(pick(tag(*acc, 0), tag(lwt::pause(), 1)));
                    break;
            }
            SOAK_CHECK(!acc->is_pending(), "race " << i << " (mode " << mode << "): pending after its cancel");
            SOAK_CHECK(settled == 1, "race " << i << " (mode " << mode << "): settled " << settled << " times");
            if (acc->state() == lwt::state::fulfilled) {
                SOAK_CHECK(c.has_value(), "race " << i << ": accepted a connection nobody made");
                SOAK_CHECK(acc->value().first.is_open(), "race " << i << ": accepted a closed descriptor");
                SOAK_CHECK(acc->value().second == unix_::getsockname(*c), "race " << i << ": accepted someone else");
                ++tally[mode].fulfilled;
                acc.reset();  // the server's end closes first
                abort_close(*c);
            } else {
                SOAK_CHECK(test::is_canceled(*acc), "race " << i << " (mode " << mode << "): rejected, not cancelled");
                ++tally[mode].cancelled;
                acc.reset();
                if (c) {
                    // Where did the connection go? Queued connections come out in order: a
                    // sentinel made now comes out after it.
                    const auto mine = unix_::getsockname(*c);
                    auto sentinel = tcp_socket();
                    SOAK_CHECK(raw_connect(sentinel.fd(), addr), "race " << i << ": the sentinel's connect");
                    const auto sentinel_addr = unix_::getsockname(sentinel);
                    bool queued = false;
                    for (;;) {
                        auto conn = next_accept(i);
                        if (conn.second == mine) {
                            queued = true;
                        } else {
                            SOAK_CHECK(conn.second == sentinel_addr, "race " << i << ": accepted a stranger");
                            break;
                        }
                    }
                    if (queued) {
                        ++still_queued;
                    } else {
                        SOAK_CHECK(wait_fd(c->fd(), POLLIN | POLLRDHUP, 5000),
                                   "race " << i << " (mode " << mode
                                           << "): the connection was neither returned, nor queued, nor closed");
                        char byte;
                        ssize_t k = ::recv(c->fd(), &byte, 1, MSG_DONTWAIT);
                        SOAK_CHECK(k == 0 || (k < 0 && errno == ECONNRESET),
                                   "race " << i << ": the runtime's end of the connection is still open");
                        ++closed_by_runtime;
                    }
                    abort_close(sentinel);
                    abort_close(*c);
                }
            }
            SOAK_CHECK(engine::live_operations() == 0, "race " << i << ": an operation left behind");
            if ((i & 0x3fff) == 0) SOAK_CHECK(test::open_fds() == fds0 + 1, "race " << i << ": descriptors leaked");
        }
    }
    test::settle_idle();
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    std::size_t f = 0, c = 0;
    for (auto& t : tally) f += t.fulfilled, c += t.cancelled;
    REQUIRE(f > 0);
    REQUIRE(c > 0);
    report(std::to_string(races) + " accept races: " + std::to_string(f) + " returned the connection, " +
           std::to_string(c) + " cancelled (of whose connections " + std::to_string(still_queued) +
           " were still queued and " + std::to_string(closed_by_runtime) + " closed by the runtime); " +
           tallies(tally) + "; " + std::to_string(seconds_since(t0)) + " s");
}

TEST_CASE("a million connects raced against their cancellation leave usable sockets and leak nothing") {
    // Modes, to a listener that answers: 0 cancel at once; 1 one loop iteration, cancel; 2
    // the connect picked against a pause; 3 a few microseconds for the completion to be
    // queued, cancel; 4 two iterations, cancel. To one that does not (its backlog is full,
    // SYNs are dropped), so that the connect is in flight when cancelled: 5 cancel at once; 6
    // one iteration, cancel. A connect that reports success is connected and carries a byte
    // to the server; a cancelled one that connected anyway (the handshake is the kernel's)
    // carries one too.
    const auto t0 = clock_type::now();
    const std::size_t races = scaled(1'000'000, 700);
    const int fds0 = test::open_fds();
    std::vector<mode_tally> tally(7);
    std::size_t cancelled_but_connected = 0, bytes = 0;
    std::string why_not;
    {
        silent_listener silent;
        why_not = silent.why_not;
        const int fds1 = test::open_fds();
        auto l = tcp_listener(4096);
        const auto addr = unix_::getsockname(l);
        std::minstd_rand rng(16);
        // The server's end of the connection from `peer` (closing any other found first).
        auto server_end = [&](const unix_::sockaddr& peer, std::size_t race) {
            for (;;) {
                SOAK_CHECK(wait_fd(l.fd(), POLLIN, 5000), "race " << race << ": the connection never reached the listener");
                sockaddr_storage ss{};
                socklen_t len = sizeof ss;
                int fd = ::accept4(l.fd(), reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
                SOAK_CHECK(fd >= 0, "race " << race << ": accept4");
                file_descr s(fd);
                if (unix_::sockaddr::from_raw(reinterpret_cast<sockaddr*>(&ss), len) == peer) return s;
            }
        };
        auto carry_byte = [&](file_descr& c, std::size_t race) {
            auto s = server_end(unix_::getsockname(c), race);
            unsigned char v = static_cast<unsigned char>(race), w = 0;
            SOAK_CHECK(::send(c.fd(), &v, 1, MSG_NOSIGNAL) == 1, "race " << race << ": send on the connected socket");
            SOAK_CHECK(wait_fd(s.fd(), POLLIN, 5000) && ::recv(s.fd(), &w, 1, 0) == 1 && w == v,
                       "race " << race << ": the byte did not arrive");
            ++bytes;
        };
        for (std::size_t i = 0; i < races; ++i) {
            const int mode = static_cast<int>(i % 7);
            auto c = tcp_socket();
            promise<void> r = unix_::connect(c, mode >= 5 && why_not.empty() ? silent.addr : addr);
            int settled = 0;
            count_settlements(r, settled);
            switch (mode) {
                case 0:
                    cancel(r);
                    break;
                case 1:
                    main::run(lwt::pause());
                    cancel(r);
                    break;
                case 2:
                    main::run(pick(tag(r, 0), tag(lwt::pause(), 1)));
                    break;
                case 3:
                    spin_us(static_cast<int>(rng() % 20));
                    cancel(r);
                    break;
                case 4:
                    main::run(lwt::pause());
                    main::run(lwt::pause());
                    cancel(r);
                    break;
                case 5:
                    cancel(r);
                    break;
                default:
                    main::run(lwt::pause());
                    cancel(r);
                    break;
            }
            SOAK_CHECK(!r.is_pending(), "race " << i << " (mode " << mode << "): pending after its cancel");
            SOAK_CHECK(settled == 1, "race " << i << " (mode " << mode << "): settled " << settled << " times");
            if (r.state() == lwt::state::fulfilled) {
                SOAK_CHECK(is_connected(c.fd()), "race " << i << " (mode " << mode << "): fulfilled but not connected");
                carry_byte(c, i);
                ++tally[mode].fulfilled;
            } else {
                SOAK_CHECK(test::is_canceled(r), "race " << i << " (mode " << mode << "): rejected, not cancelled");
                ++tally[mode].cancelled;
                if (is_connected(c.fd())) {
                    carry_byte(c, i);
                    ++cancelled_but_connected;
                }
            }
            abort_close(c);
            // Whatever else reached the listener (a handshake finished after its cancel).
            for (int fd; (fd = ::accept4(l.fd(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0;) ::close(fd);
            SOAK_CHECK(engine::live_operations() == 0, "race " << i << ": an operation left behind");
            if ((i & 0x3fff) == 0) SOAK_CHECK(test::open_fds() == fds1 + 1, "race " << i << ": descriptors leaked");
        }
    }
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    std::size_t f = 0, c = 0;
    for (auto& t : tally) f += t.fulfilled, c += t.cancelled;
    REQUIRE(f > 0);
    report(std::to_string(races) + " connect races: " + std::to_string(f) + " fulfilled, " + std::to_string(c) +
           " cancelled (" + std::to_string(cancelled_but_connected) + " of them connected by the kernel anyway); " +
           std::to_string(bytes) + " bytes carried; " + tallies(tally) + "; " + std::to_string(seconds_since(t0)) + " s");
    if (c == 0) {
        REQUIRE(!why_not.empty());
        test::skip("no connect was cancelled in flight: " + why_not);
    }
}

TEST_CASE("a million sleeps raced against their cancellation settle once, never early, and leave no timer") {
    // Modes: 0 cancel at once; 1 past the deadline without running the loop, cancel; 2 one
    // iteration, cancel; 3 two sleeps of the same duration picked (the loser is cancelled in
    // the loop); 4 past the deadline, one iteration (which fires it), cancel.
    const auto t0 = clock_type::now();
    const std::size_t races = scaled(1'000'000, 500);
    std::vector<mode_tally> tally(5);
    std::minstd_rand rng(17);
    for (std::size_t i = 0; i < races; ++i) {
        const int mode = static_cast<int>(i % 5);
        const auto d = std::chrono::microseconds(rng() % 50);
        const auto called = clock_type::now();
        promise<void> s = unix_::sleep(d);
        int settled = 0;
        clock_type::time_point at{};
        on_termination(s, [&] {
            ++settled;
            at = clock_type::now();
        });
        std::optional<promise<void>> twin;
        switch (mode) {
            case 0:
                cancel(s);
                break;
            case 1:
                while (clock_type::now() - called <= d) {
                }
                cancel(s);
                break;
            case 2:
                main::run(lwt::pause());
                cancel(s);
                break;
            case 3:
                twin.emplace(unix_::sleep(d));
                main::run(pick(s, *twin));
                SOAK_CHECK(!twin->is_pending(), "race " << i << ": the losing twin is still pending");
                break;
            default:
                while (clock_type::now() - called <= d) {
                }
                main::run(lwt::pause());
                cancel(s);
                break;
        }
        SOAK_CHECK(!s.is_pending(), "race " << i << " (mode " << mode << "): pending after its cancel");
        SOAK_CHECK(settled == 1, "race " << i << " (mode " << mode << "): settled " << settled << " times");
        if (s.state() == lwt::state::fulfilled) {
            SOAK_CHECK(at - called >= d, "race " << i << " (mode " << mode << "): a sleep of " << d.count()
                                                 << " us fired early");
            ++tally[mode].fulfilled;
        } else {
            SOAK_CHECK(test::is_canceled(s), "race " << i << " (mode " << mode << "): rejected, not cancelled");
            ++tally[mode].cancelled;
        }
        SOAK_CHECK(engine::pending_timers() == 0, "race " << i << " (mode " << mode << "): a timer left behind");
        SOAK_CHECK(engine::live_operations() == 0, "race " << i << ": an operation left behind");
    }
    std::size_t f = 0, c = 0;
    for (auto& t : tally) f += t.fulfilled, c += t.cancelled;
    REQUIRE(f > 0);
    REQUIRE(c > 0);
    report(std::to_string(races) + " sleep races: " + std::to_string(f) + " fired, " + std::to_string(c) +
           " cancelled; " + tallies(tally) + "; " + std::to_string(seconds_since(t0)) + " s");
}

// =======================================================================================
// Teardown: a thread ends with N pending operations.

namespace {

enum kind { k_recv, k_accept, k_connect, k_sleep, k_read_line, k_job, kind_count };
const char* const kind_names[kind_count] = {"recv", "accept", "connect", "sleep", "read_line", "worker job"};

struct teardown_tally {
    std::size_t started[kind_count] = {};
    std::size_t cancelled[kind_count] = {};
    std::size_t finished[kind_count] = {};
    std::size_t failed[kind_count] = {};
    std::size_t live_before_exit = 0, timers_before_exit = 0;
    std::atomic<std::size_t> jobs_ran{0};  // worker job bodies run to their end
    std::size_t frames = 0;          // coroutine frames alive
    std::size_t live_at_last = ~std::size_t{0}, timers_at_last = ~std::size_t{0};
    std::string first_failure;
};

// Counts a frame in for its lifetime; the last one out records the engine's counters.
struct frame_guard {
    teardown_tally& t;
    explicit frame_guard(teardown_tally& x) : t(x) { ++t.frames; }
    ~frame_guard() {
        if (--t.frames == 0) {
            t.live_at_last = engine::live_operations();
            t.timers_at_last = engine::pending_timers();
        }
    }
    frame_guard(const frame_guard&) = delete;
    frame_guard& operator=(const frame_guard&) = delete;
};

// One pending operation of kind k: awaits it and records how it ended.
template <class Start>
promise<void> pending_one(kind k, teardown_tally& t, Start start) {
    frame_guard g(t);
    ++t.started[k];
    try {
        co_await start();
        ++t.finished[k];
    } catch (const canceled&) {
        ++t.cancelled[k];
    } catch (const std::exception& e) {
        if (t.failed[k]++ == 0 && t.first_failure.empty()) t.first_failure = std::string(kind_names[k]) + ": " + e.what();
    }
}

promise<void> pending_read_line(teardown_tally& t, file_descr fd) {
    frame_guard g(t);
    ++t.started[k_read_line];
    auto ic = io::of_fd(io::input, std::move(fd));
    try {
        co_await io::read_line(ic);
        ++t.finished[k_read_line];
    } catch (const canceled&) {
        ++t.cancelled[k_read_line];
    } catch (const std::exception& e) {
        if (t.failed[k_read_line]++ == 0 && t.first_failure.empty()) t.first_failure = std::string("read_line: ") + e.what();
    }
    // The channel owns its descriptor: closing it is the coroutine's job, teardown or not.
    try {
        co_await io::close(ic);
    } catch (const std::exception& e) {
        if (t.first_failure.empty()) t.first_failure = std::string("closing a read_line channel: ") + e.what();
    }
}

// Runs one thread that starts n operations of each kind in `kinds`, then ends without
// waiting; returns what its coroutines saw. The descriptors are the caller's and outlive the
// thread, so the operations are really in flight when its engine is torn down.
void tear_down(teardown_tally& t, const std::vector<kind>& kinds, std::size_t n, bool pipes, const silent_listener& silent) {
    std::vector<file_descr> idle;      // recv: both ends of socketpairs
    file_descr listener;               // accept
    std::vector<file_descr> dialers;   // connect
    std::vector<file_descr> writers;   // read_line: the pipes' write ends (or the sockets' peers)
    std::vector<file_descr> readers;   // ... and the ends read (moved into channels)
    for (kind k : kinds) {
        if (k == k_recv)
            for (std::size_t i = 0; i < n; i += 2) {
                auto p = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
                idle.push_back(std::move(p.first));
                if (i + 1 < n) idle.push_back(std::move(p.second));
                else writers.push_back(std::move(p.second));
            }
        if (k == k_accept) listener = tcp_listener(128);
        if (k == k_connect)
            for (std::size_t i = 0; i < n; ++i) dialers.push_back(tcp_socket());
        if (k == k_read_line) {
            if (pipes) {
                for (std::size_t i = 0; i < n; ++i) {
                    auto p = unix_::pipe();
                    readers.push_back(std::move(p.first));
                    writers.push_back(std::move(p.second));
                }
            } else {
                for (std::size_t i = 0; i < n; i += 2) {
                    auto p = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
                    readers.push_back(std::move(p.first));
                    if (i + 1 < n) readers.push_back(std::move(p.second));
                    else writers.push_back(std::move(p.second));
                }
            }
        }
    }
    std::thread([&] {
        static thread_local char sink[64];
        for (kind k : kinds) {
            for (std::size_t i = 0; i < n; ++i) {
                switch (k) {
                    case k_recv:
                        async([&, i] { return pending_one(k_recv, t, [&, i] { return promise<std::size_t>(unix_::recv(idle[i], sink, sizeof sink)); }); });
                        break;
                    case k_accept:
                        async([&] { return pending_one(k_accept, t, [&] { return promise<accepted>(unix_::accept(listener)); }); });
                        break;
                    case k_connect:
                        async([&, i] { return pending_one(k_connect, t, [&, i] { return promise<void>(unix_::connect(dialers[i], silent.addr)); }); });
                        break;
                    case k_sleep:
                        async([&] { return pending_one(k_sleep, t, [] { return unix_::sleep(3600.0); }); });
                        break;
                    case k_read_line:
                        async([&, i] { return pending_read_line(t, std::move(readers[i])); });
                        break;
                    case k_job:
                        async([&] {
                            return pending_one(k_job, t, [&] {
                                return preemptive::detach([&] {
                                    std::this_thread::sleep_for(std::chrono::microseconds(20));
                                    t.jobs_ran.fetch_add(1);
                                    return 1;
                                });
                            });
                        });
                        break;
                    case kind_count:
                        break;
                }
            }
        }
        t.live_before_exit = engine::live_operations();
        t.timers_before_exit = engine::pending_timers();
    }).join();
    for (auto& d : dialers) abort_close(d);
}

}  // namespace

TEST_CASE("a loop torn down with ten thousand pending operations of each kind cancels them all and frees everything") {
    const auto t0 = clock_type::now();
    const std::size_t n = scaled(10'000, 50);
    const rlim_t limit = raise_nofile();
    const int fds0 = test::open_fds();
    std::optional<silent_listener> silent_;
    silent_.emplace();
    const silent_listener& silent = *silent_;
    const int fds_silent = test::open_fds();
    std::vector<kind> kinds = {k_recv, k_accept, k_sleep, k_read_line, k_job};
    if (silent.why_not.empty()) kinds.insert(kinds.begin() + 2, k_connect);
    std::string lines;
    std::vector<std::string> substitutions;
    auto check = [&](const std::vector<kind>& ks, std::size_t count, bool pipes) {
        const auto t1 = clock_type::now();
        teardown_tally t;
        tear_down(t, ks, count, pipes, silent);
        std::string what;
        for (kind k : ks) what += (what.empty() ? "" : ", ") + std::string(kind_names[k]);
        INFO("kinds run: " << what << ", " << count << " each; " << t.first_failure);
        std::size_t io_expected = 0;
        for (kind k : ks) {
            INFO(kind_names[k]);
            REQUIRE(t.started[k] == count);
            REQUIRE(t.failed[k] == 0);
            if (k == k_job) {
                // Not cancelable: the teardown waits for every worker. Its coroutine either got
                // the result or, as a waiter on a promise that nothing on the dying loop could
                // settle, was cancelled at the thread's exit; each ran to its end either way.
                REQUIRE(t.jobs_ran.load() == count);
                REQUIRE(t.finished[k] + t.cancelled[k] == count);
            } else {
                REQUIRE(t.cancelled[k] == count);
                REQUIRE(t.finished[k] == 0);
            }
            if (k != k_sleep) io_expected += count;
        }
        REQUIRE(t.first_failure.empty());
        REQUIRE(t.live_before_exit >= io_expected);  // they were in flight at the thread's end
        REQUIRE(t.frames == 0);                       // every coroutine frame was freed
        // The last frame to go saw nothing in flight -- but worker jobs whose coroutines were
        // cancelled at the thread's exit, which its engine then waited for (jobs_ran above).
        REQUIRE(t.live_at_last <= t.cancelled[k_job]);
        REQUIRE(t.timers_at_last == 0);
        REQUIRE(test::open_fds() == fds_silent);
        lines += "\n    " + std::to_string(count) + " x {" + what + "} in flight at the thread's end (" +
                 std::to_string(t.live_before_exit) + " operations, " + std::to_string(t.timers_before_exit) +
                 " timers): all cancelled" +
                 (t.started[k_job] ? " (worker jobs: " + std::to_string(t.finished[k_job]) + " delivered, " +
                                         std::to_string(t.cancelled[k_job]) + " cancelled, all run)"
                                   : std::string()) +
                 ", every frame freed, counters 0, in " +
                 std::to_string(seconds_since(t1)) + " s";
    };
    // One kind at a time at full count...
    for (kind k : kinds) {
        // read_line: over pipes (two descriptors per pending read) when they fit, else over
        // both ends of socketpairs.
        bool pipes = k != k_read_line || room_for(limit, 64) >= 2 * n;
        if (!pipes) substitutions.push_back("read_line ran over socketpair ends: " + std::to_string(n) + " pipes need " +
                                            std::to_string(2 * n) + " descriptors, more than RLIMIT_NOFILE allows");
        check({k}, n, pipes);
    }
    // ...then every kind at once, as many as fit.
    std::size_t fds_per = 0;
    for (kind k : kinds) fds_per += k == k_recv || k == k_connect ? 1 : k == k_read_line ? 2 : 0;
    std::size_t mixed = std::min(n, room_for(limit, 64) / std::max<std::size_t>(fds_per, 1));
    REQUIRE(mixed > 0);
    check(kinds, mixed, true);
    const std::string why_not = silent.why_not;
    silent_.reset();
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    report("teardown with pending operations, " + std::to_string(seconds_since(t0)) + " s:" + lines);
    for (auto& s : substitutions) WARN(s);
    if (!why_not.empty()) test::skip("connect left out: no non-answering loopback address (" + why_not + ")");
}

// =======================================================================================
// EMFILE: a server out of descriptors.

namespace {

promise<void> line_echo(unix_::sockaddr, io::input_channel ic, io::output_channel oc) {
    while (auto line = co_await io::read_line_opt(ic)) {
        co_await io::write_line(oc, *line);
        co_await io::flush(oc);
    }
}

struct flood_client {
    file_descr s;
    std::string line, echoed;
    bool served = false, closed = false;
};

// Reads what the server echoed so far; true once the whole line came back.
bool poll_echo(flood_client& c) {
    char buf[256];
    for (;;) {
        ssize_t k = ::recv(c.s.fd(), buf, sizeof buf, MSG_DONTWAIT);
        if (k > 0) {
            c.echoed.append(buf, static_cast<std::size_t>(k));
            continue;
        }
        if (k == 0) FAIL("the server closed " << c.line << " before echoing it");
        if (errno != EAGAIN) FAIL("recv: " << std::strerror(errno));
        break;
    }
    return c.echoed.size() >= c.line.size() + 1;
}

}  // namespace

TEST_CASE("an echo server out of descriptors backs off without spinning and serves every client once they close") {
    const auto t0 = clock_type::now();
    const std::size_t clients = scaled(2'000, 64);
    const std::size_t headroom = 16;
    raise_nofile();
    const int fds0 = test::open_fds();
    test::hook_recorder hooks;
    io::server_options opts;
    opts.backlog = 4096;
    std::size_t flood_served = 0, rounds = 0;
    double flood_wall = 0, flood_cpu = 0;
    std::optional<io::server> srv_;
    {
        nofile_restorer restore;
        // Room for exactly `headroom` accepted connections (and the server's listener): the
        // soft limit goes `headroom` + 1 above the highest open descriptor, every free number
        // below it is filled, then `headroom` + 1 of the fillers are closed.
        std::vector<flood_client> cs(clients);
        for (std::size_t i = 0; i < clients; ++i) {
            cs[i].s = tcp_socket();
            cs[i].line = "client " + std::to_string(i) + " ";
            for (int k = 0; k < 40; ++k) cs[i].line += static_cast<char>('a' + pattern(i, static_cast<std::uint64_t>(k)) % 26);
        }
        // UndefinedBehaviorSanitizer's vptr check opens a pipe the first time it meets a type
        // (to probe the vtable's memory), and reports "invalid vptr" when it cannot -- as
        // under EMFILE. The library's accept failure below (a unix_error over
        // std::generic_category) is met here first, with descriptors to spare.
        // The same for the server's path: one connection served in full first, by a server
        // like the one flooded below.
        {
            auto warm = main::run(io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", 0), line_echo, opts));
            const auto addr = warm.listening_address();
            auto& srv = warm;
            flood_client w{tcp_socket(), "warm-up", "", false, false};
            SOAK_CHECK(raw_connect(w.s.fd(), addr), "warm-up connect");
            SOAK_CHECK(::send(w.s.fd(), "warm-up\n", 8, MSG_NOSIGNAL) == 8, "warm-up send");
            test::settle([&] { return poll_echo(w); }, "the warm-up echo", 10);
            ::shutdown(w.s.fd(), SHUT_WR);
            test::settle([&] { return wait_fd(w.s.fd(), POLLIN | POLLRDHUP, 0); }, "the warm-up close", 10);
            abort_close(w.s);
            test::settle([&] { return srv.connections() == 0; }, "the server to close the warm-up", 10);
            main::run(io::shutdown_server(warm));
            test::settle_idle();
        }
        try {
            auto not_listening = tcp_socket();
            main::run(unix_::accept(not_listening));
        } catch (const unix_::unix_error& e) {
            (void)std::string(e.what()).size();
            (void)e.code().message();
            (void)e.error();
        }
        // (An EMFILE from the flood server's accept loop itself, as in lib/io/server.cpp.)
        try {
            throw unix_::unix_error(EMFILE, "accept", "");
        } catch (const unix_::unix_error& e) {
            (void)e.error();
        }
        rlimit low{};
        ::getrlimit(RLIMIT_NOFILE, &low);
        low.rlim_cur = static_cast<rlim_t>(highest_fd()) + 2 + headroom;
        SOAK_CHECK(::setrlimit(RLIMIT_NOFILE, &low) == 0, "EMFILE scenario");
        std::vector<file_descr> fillers;
        for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;) fillers.emplace_back(fd);
        SOAK_CHECK(errno == EMFILE, "EMFILE scenario");
        SOAK_CHECK(fillers.size() > headroom, "EMFILE scenario");
        fillers.resize(fillers.size() - headroom - 1);
        // The server starts under the lowered limit (io_uring takes an accept's descriptor
        // limit when the accept is prepared), its listener taking one of the free numbers.
        srv_.emplace(main::run(io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", 0), line_echo, opts)));
        auto& srv = *srv_;
        const auto addr = srv.listening_address();
        // Under the lowered limit, checks go through SOAK_CHECK, which builds nothing unless
        // it fails (see the vptr note above: Catch's REQUIRE objects would be met there first).
        // Every client connects (into the listener's backlog) and sends its line.
        for (auto& c : cs) {
            SOAK_CHECK(raw_connect(c.s.fd(), addr), "EMFILE scenario");
            std::string l = c.line + "\n";
            SOAK_CHECK(::send(c.s.fd(), l.data(), l.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(l.size()), "EMFILE scenario");
        }
        // The flood: the server takes what descriptors allow, then fails with EMFILE. It must
        // keep running without spinning on the listener that stays readable.
        const auto f0 = clock_type::now();
        const double c0 = cpu_seconds();
        main::run(unix_::sleep(1.0));
        flood_wall = seconds_since(f0);
        flood_cpu = cpu_seconds() - c0;
        for (auto& c : cs)
            if (poll_echo(c)) ++flood_served;
        const std::size_t held = srv.connections();
        SOAK_CHECK(flood_served > 0, "EMFILE scenario");
        SOAK_CHECK(held <= headroom, held << " connections held with room for " << headroom);
        SOAK_CHECK(flood_served < clients, "the server was not out of descriptors");  // the rest waits
        SOAK_CHECK(flood_cpu < 0.25 * flood_wall, "a spin: " << flood_cpu << " s of CPU in a " << flood_wall << " s flood");
        // Recovery: each served client closes, which frees a descriptor for the next one.
        std::size_t finished = 0;
        const auto deadline = clock_type::now() + std::chrono::seconds(120);
        while (finished < clients) {
            if (clock_type::now() > deadline) FAIL("still " << clients - finished << " clients unserved after 120 s");
            bool progress = false;
            for (auto& c : cs) {
                if (c.closed || !poll_echo(c)) continue;
                SOAK_CHECK(c.echoed == c.line + "\n", "EMFILE scenario");
                ::shutdown(c.s.fd(), SHUT_WR);
                c.closed = true;
                progress = true;
                ++finished;
            }
            if (progress) ++rounds;
            main::run(unix_::sleep(0.005));
        }
        // Every client saw its connection end after the echo.
        for (auto& c : cs) {
            test::settle([&] { return wait_fd(c.s.fd(), POLLIN | POLLRDHUP, 0); }, "the server to close a connection", 10);
            char b;
            SOAK_CHECK(::recv(c.s.fd(), &b, 1, MSG_DONTWAIT) == 0, "EMFILE scenario");
            abort_close(c.s);
        }
        test::settle([&] { return srv.connections() == 0; }, "the server to close every connection", 30);
        // New connections are served again, under the same lowered limit.
        auto fresh = tcp_socket();
        SOAK_CHECK(raw_connect(fresh.fd(), addr), "EMFILE scenario");
        const std::string l = "after the flood\n";
        SOAK_CHECK(::send(fresh.fd(), l.data(), l.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(l.size()), "EMFILE scenario");
        flood_client f{std::move(fresh), "after the flood", "", false, false};
        test::settle([&] { return poll_echo(f); }, "the echo of a connection made after the flood", 10);
        SOAK_CHECK(f.echoed == l, "EMFILE scenario");
        ::shutdown(f.s.fd(), SHUT_WR);
        test::settle([&] { return wait_fd(f.s.fd(), POLLIN | POLLRDHUP, 0); }, "the server to close the connection", 10);
        abort_close(f.s);
        test::settle([&] { return srv.connections() == 0; }, "the server to close the last connection", 30);
    }
    main::run(io::shutdown_server(*srv_));
    srv_.reset();
    test::settle_idle();
    REQUIRE(hooks.seen.empty());
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds0);
    report(std::to_string(clients) + " clients flooding a server with room for " + std::to_string(headroom) +
           ": " + std::to_string(flood_served) + " served during a " + std::to_string(flood_wall) + " s flood using " +
           std::to_string(flood_cpu) + " s of CPU; all served, every line checked, after " + std::to_string(rounds) +
           " rounds of closes, and a new client after; " + std::to_string(seconds_since(t0)) + " s");
}
