// loops: what messages between loops cost (lwt::loops, issue 13), beside the physical limits
// measured by the same program in the same run, and a CPU-bound server to show loops scaling.
//
//   loops roundtrip [--n N] [--warmup K] [--no-pin] [--only lwt|eventfd|spin]
//       Loop 0 awaits loops::post(1, [k] { return k; }) N times, one in flight, and the same
//       number of round trips between two plain threads (i) blocking on two eventfds and
//       (ii) busy-waiting on one atomic. Prints test=roundtrip ... lwt_ns= eventfd_ns=
//       spin_ns= lwt_vs_eventfd= lwt_vs_spin= (ns per round trip). --only runs one of the
//       three: what bench/scaling.sh runs under callgrind to count instructions per round trip
//       (K round trips before the measured ones; default min(N / 10, 10000)).
//   loops window [--n N] [--window W] [--no-pin]
//       Loop 0 keeps W posts to loop 1 in flight (W coroutines, each awaiting its posts one
//       after the other): what batching buys. Prints posts_per_s= ns_per_post=.
//   loops fanin [--loops L] [--n M] [--window W] [--no-pin]
//       Loops 1..L-1 each post M tiny functions to loop 0, W in flight each. With L = 1, loop 0
//       posts to itself. Prints posts_per_s= (all senders, from the first start to the last end).
//   loops hash [--loops L] [--size B] [--hash-bytes H] [--no-pin] PORT
//       A server on L loops (a listener per loop on PORT, SO_REUSEPORT) that, for each message
//       of B bytes (default 64), hashes H bytes (default 64 KiB, some 60-100 us of CPU) and
//       sends the message back: bench/loadgen --size B drives it. SIGTERM/SIGINT stop it.
//
// Defaults: N = 200000, W = 64, L = 2 (hash: 1), M = 1000000 / (L - 1); loops are pinned, one
// per CPU (loops::run_options::pin), and so are the two threads of the plain ping-pongs.
// LWT_ENGINE=uring|epoll selects the engine; LWT_URING_NO_MSG_RING=1 makes io_uring loops wake
// each other by eventfd instead of IORING_OP_MSG_RING (the line says which: wake=...).
// bench/scaling.sh runs all of it and prints the tables.
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace lwt;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

// Results flow into this, so that no measured loop is optimised away.
std::atomic<std::uint64_t> sink{0};

struct options {
    std::uint64_t n = 0;  // 0: the subcommand's default
    std::uint64_t warmup = std::numeric_limits<std::uint64_t>::max();  // max: min(N / 10, 10000)
    std::uint64_t window = 64;
    std::size_t loops = 0;  // 0: the subcommand's default
    std::size_t size = 64;
    std::size_t hash_bytes = 64 * 1024;
    bool pin = true;
    std::string only;
    int port = -1;
};

// Pins the calling thread to the k-th usable CPU (modulo their number), as loops::run pins loop k.
void pin_thread(std::size_t k) {
    static const std::vector<int> cpus = loops::usable_cpus();
    if (cpus.empty()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[k % cpus.size()], &set);
    ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

std::string wake_kind() {
    return detail::io_engine::current().sends_ring_messages() ? "msg_ring" : "eventfd";
}

// ---- (a) round trips ----

// Loop 0's side: n sequential posts after a short warm-up; *ns_out gets ns per round trip.
promise<void> post_round_trips(std::uint64_t n, std::uint64_t warm, double* ns_out, std::string* wake) {
    *wake = wake_kind();
    std::uint64_t sum = 0;
    for (std::uint64_t k = 0; k < warm; ++k)
        sum += co_await loops::post(1, [k] { return k; });
    auto t0 = clock_type::now();
    for (std::uint64_t k = 0; k < n; ++k) sum += co_await loops::post(1, [k] { return k; });
    *ns_out = seconds_between(t0, clock_type::now()) * 1e9 / static_cast<double>(n);
    sink += sum;
}

double lwt_round_trip(std::uint64_t n, std::uint64_t warm, bool pin, std::string& wake) {
    double ns = 0;
    loops::run(
        2,
        [&](std::size_t i) -> promise<void> {
            if (i != 0) return return_();
            return post_round_trips(n, warm, &ns, &wake);
        },
        {.pin = pin});
    return ns;
}

// Runs ping on one thread and pong on another (pinned to the first two CPUs, as loops 0 and 1
// are) and returns ns per round trip, as ping measured it.
template <class Ping, class Pong>
double thread_pair(bool pin, Ping ping, Pong pong) {
    double ns = 0;
    std::thread b([&] {
        if (pin) pin_thread(1);
        pong();
    });
    std::thread a([&] {
        if (pin) pin_thread(0);
        ns = ping();
    });
    a.join();
    b.join();
    return ns;
}

// Two threads, two eventfds, blocking read and write: the kernel's wake-up of a sleeping thread,
// twice per round trip.
double eventfd_round_trip(std::uint64_t n, std::uint64_t warm, bool pin) {
    int to_b = ::eventfd(0, EFD_CLOEXEC), to_a = ::eventfd(0, EFD_CLOEXEC);
    if (to_b < 0 || to_a < 0) throw std::runtime_error("eventfd failed");
    auto step = [](int fd_in, int fd_out) {
        std::uint64_t v = 0, one = 1;
        if (::read(fd_in, &v, sizeof v) != sizeof v || ::write(fd_out, &one, sizeof one) != sizeof one)
            throw std::runtime_error("eventfd read/write failed");
    };
    double ns = thread_pair(
        pin,
        [&] {
            std::uint64_t one = 1, v = 0;
            clock_type::time_point t0;
            for (std::uint64_t k = 0; k < warm + n; ++k) {
                if (k == warm) t0 = clock_type::now();
                if (::write(to_b, &one, sizeof one) != sizeof one || ::read(to_a, &v, sizeof v) != sizeof v)
                    throw std::runtime_error("eventfd read/write failed");
            }
            return seconds_between(t0, clock_type::now()) * 1e9 / static_cast<double>(n);
        },
        [&] {
            for (std::uint64_t k = 0; k < warm + n; ++k) step(to_b, to_a);
        });
    ::close(to_b);
    ::close(to_a);
    return ns;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Two threads spinning on one atomic: ping sets it to 2k+1, pong answers 2k+2. No system call,
// no sleep: the cost is the cache line crossing between the cores twice. Meaningless on one
// CPU (each waits for the other to be scheduled), so only measured with two or more.
double spin_round_trip(std::uint64_t n, std::uint64_t warm, bool pin) {
    alignas(64) std::atomic<std::uint64_t> turn{0};
    std::uint64_t total = warm + n;
    return thread_pair(
        pin,
        [&] {
            clock_type::time_point t0;
            for (std::uint64_t k = 0; k < total; ++k) {
                if (k == warm) t0 = clock_type::now();
                turn.store(2 * k + 1, std::memory_order_release);
                while (turn.load(std::memory_order_acquire) != 2 * k + 2) cpu_relax();
            }
            return seconds_between(t0, clock_type::now()) * 1e9 / static_cast<double>(n);
        },
        [&] {
            for (std::uint64_t k = 0; k < total; ++k) {
                while (turn.load(std::memory_order_acquire) != 2 * k + 1) cpu_relax();
                turn.store(2 * k + 2, std::memory_order_release);
            }
        });
}

int cmd_roundtrip(const options& o) {
    std::uint64_t n = o.n != 0 ? o.n : 200000;
    std::uint64_t warm = o.warmup != std::numeric_limits<std::uint64_t>::max() ? o.warmup
                                                                             : std::min<std::uint64_t>(n / 10, 10000);
    const double none = std::numeric_limits<double>::quiet_NaN();
    double lwt_ns = none, efd_ns = none, spin_ns = none;
    std::string wake = "-";
    bool all = o.only.empty();
    if (all || o.only == "lwt") lwt_ns = lwt_round_trip(n, warm, o.pin, wake);
    if (all || o.only == "eventfd") efd_ns = eventfd_round_trip(n, warm, o.pin);
    if ((all || o.only == "spin") && loops::available_cpus() >= 2) spin_ns = spin_round_trip(n, warm, o.pin);
    fmt::print("test=roundtrip engine={} wake={} pin={} n={} lwt_ns={:.0f} eventfd_ns={:.0f} spin_ns={:.0f} "
               "lwt_vs_eventfd={:.2f} lwt_vs_spin={:.2f}\n",
               engine::id(), wake, o.pin ? 1 : 0, n, lwt_ns, efd_ns, spin_ns, lwt_ns / efd_ns, lwt_ns / spin_ns);
    return 0;
}

// ---- (a') a window of posts in flight, and (b) many loops posting to one ----

// One of a loop's W senders: its posts one after the other.
promise<void> sender(std::size_t to, std::uint64_t n) {
    std::uint64_t sum = 0;
    for (std::uint64_t k = 0; k < n; ++k) sum += co_await loops::post(to, [k] { return k; });
    sink += sum;
}

// The times of the first sender loop's start and the last one's end, over all sender loops.
struct span {
    std::atomic<std::int64_t> first_start{std::numeric_limits<std::int64_t>::max()};
    std::atomic<std::int64_t> last_end{0};
    std::int64_t now() const { return clock_type::now().time_since_epoch().count(); }
    void started() {
        std::int64_t t = now(), cur = first_start.load();
        while (t < cur && !first_start.compare_exchange_weak(cur, t)) {
        }
    }
    void ended() {
        std::int64_t t = now(), cur = last_end.load();
        while (t > cur && !last_end.compare_exchange_weak(cur, t)) {
        }
    }
    double seconds() const {
        return static_cast<double>(last_end.load() - first_start.load()) * clock_type::period::num /
               clock_type::period::den;
    }
};

// A sender loop: W senders of n / W posts each to loop `to`.
promise<void> send_window(std::size_t to, std::uint64_t n, std::uint64_t window, span* s) {
    s->started();
    std::vector<promise<void>> senders;
    for (std::uint64_t w = 0; w < window; ++w) senders.push_back(sender(to, n / window));
    co_await join(std::move(senders));
    s->ended();
}

int cmd_window(const options& o) {
    std::uint64_t n = o.n != 0 ? o.n : 1000000, w = std::max<std::uint64_t>(o.window, 1);
    n -= n % w;
    span s;
    std::string wake;
    loops::run(
        2,
        [&](std::size_t i) -> promise<void> {
            if (i != 0) return return_();
            wake = wake_kind();
            return send_window(1, n, w, &s);
        },
        {.pin = o.pin});
    double secs = s.seconds();
    fmt::print("test=window engine={} wake={} pin={} n={} window={} posts_per_s={:.0f} ns_per_post={:.1f}\n",
               engine::id(), wake, o.pin ? 1 : 0, n, w, static_cast<double>(n) / secs,
               secs * 1e9 / static_cast<double>(n));
    return 0;
}

int cmd_fanin(const options& o) {
    std::size_t l = o.loops != 0 ? o.loops : 2;
    std::size_t senders = l == 1 ? 1 : l - 1;
    std::uint64_t w = std::max<std::uint64_t>(o.window, 1);
    std::uint64_t m = o.n != 0 ? o.n : 1000000 / senders;
    m -= m % w;
    span s;
    std::string wake;
    loops::run(
        l,
        [&](std::size_t i) -> promise<void> {
            if (i == 0) wake = wake_kind();
            if (i == 0 && l > 1) return return_();  // loop 0 serves (after settling, as before)
            return send_window(0, m, w, &s);
        },
        {.pin = o.pin});
    double total = static_cast<double>(m * senders), secs = s.seconds();
    fmt::print("test=fanin engine={} wake={} pin={} loops={} senders={} posts_each={} window={} posts_per_s={:.0f} "
               "ns_per_post={:.1f}\n",
               engine::id(), wake, o.pin ? 1 : 0, l, senders, m, w, total / secs, secs * 1e9 / total);
    return 0;
}

// ---- (d) a CPU-bound server ----

// What each request hashes: the same read-only block for every loop (it fits in L2).
std::vector<unsigned char> hash_block;

// FNV-1a over the block, seeded by the request: one multiply per byte in a dependency chain,
// so neither vectorised nor cut short.
std::uint64_t hash_request(const std::string& request) {
    std::uint64_t h = 14695981039346656037ull ^ static_cast<unsigned char>(request[0]);
    for (unsigned char c : hash_block) h = (h ^ c) * 1099511628211ull;
    return h;
}

promise<void> hash_connection(unix_::file_descr conn, std::size_t size) {
    std::string buf(size, '\0');
    try {
        for (;;) {
            for (std::size_t got = 0; got < size;) {
                std::size_t n = co_await unix_::recv(conn, buf.data() + got, size - got);
                if (n == 0) co_return;
                got += n;
            }
            // The reply depends on the hash (a zero hash, which does not happen, would flip a
            // bit), so it must be computed; the bytes sent back are those received.
            if (hash_request(buf) == 0) buf[0] = static_cast<char>(buf[0] ^ 1);
            for (std::size_t off = 0; off < size;) off += co_await unix_::send(conn, buf.data() + off, size - off);
        }
    } catch (const unix_::unix_error&) {
        // a client that resets its connection ends only its own
    } catch (const canceled&) {
        // the server is stopping
    }
}

promise<void> hash_accept_loop(const unix_::file_descr& listener, std::size_t size) {
    for (;;) {
        auto accepted = co_await io::accept_with_backoff(listener);  // rides out EMFILE
        try {
            unix_::setsockopt(accepted.first, unix_::socket_bool_option::tcp_nodelay, true);
        } catch (const unix_::unix_error&) {
            continue;  // the client is already gone
        }
        async([conn = std::move(accepted.first), size]() mutable { return hash_connection(std::move(conn), size); });
    }
}

promise<void> hash_loop(int port, std::size_t size) {
    auto listener = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::setsockopt(listener, unix_::socket_bool_option::so_reuseaddr, true);
    unix_::setsockopt(listener, unix_::socket_bool_option::so_reuseport, true);
    unix_::bind(listener, unix_::sockaddr::inet("127.0.0.1", static_cast<std::uint16_t>(port)));
    unix_::listen(listener, 4096);
    if (loops::index() == 0)
        fmt::print(stderr, "loops hash: listening on 127.0.0.1:{} ({} engine, {} loop{}, {} bytes hashed per {}-byte request)\n",
                   port, engine::id(), loops::count(), loops::count() == 1 ? "" : "s", hash_block.size(), size);
    // Each loop handles the signals itself (a handler runs on the loop that installed it).
    auto stop = wait<void>();
    for (int sig : {SIGTERM, SIGINT})
        unix_::on_signal(sig, [r = stop.second](int) {
            if (r.cell()->pending()) r.resolve();
        });
    co_await pick(hash_accept_loop(listener, size), stop.first);
}

int cmd_hash(const options& o) {
    if (o.port <= 0 || o.port > 65535 || o.size == 0 || o.hash_bytes == 0)
        throw std::invalid_argument("loops hash: PORT, a size and a number of bytes to hash are needed");
    hash_block.resize(o.hash_bytes);
    for (std::size_t i = 0; i < hash_block.size(); ++i) hash_block[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
    std::size_t l = o.loops != 0 ? o.loops : 1;
    int port = o.port;
    std::size_t size = o.size;
    loops::run(l, [port, size](std::size_t) { return hash_loop(port, size); }, {.pin = o.pin});
    return 0;
}

void usage() {
    fmt::print(stderr,
               "usage: loops roundtrip [--n N] [--warmup K] [--no-pin] [--only lwt|eventfd|spin]\n"
               "       loops window [--n N] [--window W] [--no-pin]\n"
               "       loops fanin [--loops L] [--n M] [--window W] [--no-pin]\n"
               "       loops hash [--loops L] [--size B] [--hash-bytes H] [--no-pin] PORT\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    std::string cmd = argv[1];
    options o;
    try {
        for (int i = 2; i < argc; ++i) {
            std::string a = argv[i];
            auto next = [&]() -> std::string {
                if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
                return argv[++i];
            };
            if (a == "--n") o.n = std::stoull(next());
            else if (a == "--warmup") o.warmup = std::stoull(next());
            else if (a == "--window") o.window = std::stoull(next());
            else if (a == "--loops") o.loops = std::stoul(next());
            else if (a == "--size") o.size = std::stoul(next());
            else if (a == "--hash-bytes") o.hash_bytes = std::stoul(next());
            else if (a == "--only") o.only = next();
            else if (a == "--no-pin") o.pin = false;
            else if (a == "--pin") o.pin = true;
            else if (!a.empty() && a[0] != '-') o.port = std::stoi(a);
            else throw std::invalid_argument("unknown option " + a);
        }
        if (cmd == "roundtrip") return cmd_roundtrip(o);
        if (cmd == "window") return cmd_window(o);
        if (cmd == "fanin") return cmd_fanin(o);
        if (cmd == "hash") return cmd_hash(o);
        usage();
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "loops {}: {}\n", cmd, e.what());
        return 1;
    }
}
