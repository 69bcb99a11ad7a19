// loadgen: an echo load generator written on lwt++ itself.
//
//   loadgen [options] [PORT]
//     --host H          server address (default 127.0.0.1)
//     --port P          server port (or the last argument)
//     --connections N   concurrent connections (default 64)
//     --size B          message size in bytes (default 64)
//     --depth D         messages in flight per connection: pipelining (default 1)
//     --duration S      measured seconds (default 10)
//     --warmup S        seconds before measuring (default 1)
//     --progress        a progress line every second (default when stderr is a terminal)
//     --quiet           no progress line
//     --name NAME       the label of the result line (default "lwtpp")
//     --help
//
// Each connection sends messages of a recognisable pattern and checks every echoed byte.
// Prints one line of results: name=... msgs=... msgs_per_s=... MBps=... p50_us=... p99_us=...
// errors=... (exit status 1 when a byte was wrong or a connection failed); msgs counts the
// messages echoed in the measured seconds (tools/echo_ir.sh divides by it).
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

using namespace lwt;

namespace {

struct config {
    std::string host = "127.0.0.1";
    int port = -1;
    int connections = 64;
    std::size_t size = 64;
    int depth = 1;
    double duration = 10;
    double warmup = 1;
    bool progress = ::isatty(2) != 0;
    std::string name = "lwtpp";
};

// Latencies in a log-linear histogram: 64 sub-buckets per power of two of nanoseconds.
class histogram {
public:
    void add(std::int64_t ns) {
        ++total_;
        if (ns < 1) ns = 1;
        int exp = 63 - __builtin_clzll(static_cast<unsigned long long>(ns));
        int sub = exp < 6 ? static_cast<int>(ns) & 63 : static_cast<int>((ns >> (exp - 6)) & 63);
        ++counts_[static_cast<std::size_t>(exp * 64 + sub)];
    }
    // The value below which a fraction q of the samples fall (bucket upper bound), in ns.
    double quantile(double q) const {
        std::uint64_t want = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= want && counts_[i] != 0) {
                int exp = static_cast<int>(i / 64), sub = static_cast<int>(i % 64);
                if (exp < 6) return sub + 1;
                return std::ldexp(64 + sub + 1, exp - 6);
            }
        }
        return 0;
    }
    std::uint64_t count() const noexcept { return total_; }
    void clear() {
        counts_.fill(0);
        total_ = 0;
    }

private:
    std::array<std::uint64_t, 64 * 64> counts_{};
    std::uint64_t total_ = 0;
};

struct stats {
    bool measuring = false;
    bool stop = false;
    std::uint64_t msgs = 0;
    std::uint64_t errors = 0;
    histogram latency;
    std::string first_error;
};

char pattern(int conn, std::uint64_t msg, std::size_t i) {
    return static_cast<char>((conn * 131 + msg * 31 + i * 7) & 0xff);
}

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

promise<void> send_message(const unix_::file_descr& fd, int conn, std::uint64_t seq, std::size_t size, std::string& buf) {
    buf.resize(size);
    for (std::size_t i = 0; i < size; ++i) buf[i] = pattern(conn, seq, i);
    for (std::size_t off = 0; off < size;) off += co_await unix_::send(fd, buf.data() + off, size - off);
}

promise<void> connection(const config& cfg, stats& st, int id, unix_::sockaddr addr) {
    auto fd = unix_::socket(static_cast<unix_::socket_domain>(addr.family()), unix_::socket_type::stream);
    co_await unix_::connect(fd, addr);
    unix_::setsockopt(fd, unix_::socket_bool_option::tcp_nodelay, true);
    std::deque<std::int64_t> sent_at;  // of the messages in flight, oldest first
    std::uint64_t next_send = 0, next_recv = 0;
    std::string out, in(cfg.size, '\0');
    // Fill the pipeline, then one new message per echoed one.
    for (; next_send < static_cast<std::uint64_t>(cfg.depth); ++next_send) {
        sent_at.push_back(now_ns());
        co_await send_message(fd, id, next_send, cfg.size, out);
    }
    while (!st.stop) {
        for (std::size_t got = 0; got < cfg.size;) {
            std::size_t n = co_await unix_::recv(fd, in.data() + got, cfg.size - got);
            if (n == 0) throw std::runtime_error("the server closed the connection");
            got += n;
        }
        for (std::size_t i = 0; i < cfg.size; ++i)
            if (in[i] != pattern(id, next_recv, i)) {
                ++st.errors;
                if (st.first_error.empty())
                    st.first_error = fmt::format("connection {}: message {} differs at byte {}", id, next_recv, i);
                break;
            }
        std::int64_t t = now_ns();
        if (st.measuring) {
            ++st.msgs;
            st.latency.add(t - sent_at.front());
        }
        sent_at.pop_front();
        ++next_recv;
        if (st.stop) break;
        sent_at.push_back(t);
        co_await send_message(fd, id, next_send++, cfg.size, out);
    }
}

promise<void> run_load(const config& cfg, stats& st) {
    auto addrs = co_await unix_::getaddrinfo(cfg.host, std::to_string(cfg.port));
    if (addrs.empty()) throw std::runtime_error("cannot resolve " + cfg.host);
    auto addr = addrs[0].addr;
    std::vector<promise<void>> conns;
    for (int i = 0; i < cfg.connections; ++i) {
        auto c = connection(cfg, st, i, addr);
        on_failure(c, [&st](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const lwt::canceled&) {
                return;  // stopped at the end of the run
            } catch (const std::exception& x) {
                if (st.first_error.empty()) st.first_error = x.what();
            }
            ++st.errors;
        });
        conns.push_back(std::move(c));
    }
    co_await unix_::sleep(cfg.warmup);
    st.measuring = true;
    auto t0 = std::chrono::steady_clock::now();
    for (int s = 1; s <= static_cast<int>(std::ceil(cfg.duration)); ++s) {
        co_await unix_::sleep(std::min(1.0, cfg.duration - (s - 1)));
        if (cfg.progress) {
            double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            fmt::print(stderr, "\r  {:5.1f} s  {:>10.0f} msgs/s  p50 {:>7.1f} us  p99 {:>7.1f} us  errors {}   ", el,
                       static_cast<double>(st.msgs) / el, st.latency.quantile(0.50) / 1000.0,
                       st.latency.quantile(0.99) / 1000.0, st.errors);
        }
        if (st.errors > 0 && !st.first_error.empty()) break;
    }
    st.measuring = false;
    st.stop = true;
    if (cfg.progress) fmt::print(stderr, "\n");
    for (auto& c : conns) cancel(c);  // they may be waiting for an echo
}

void usage() {
    fmt::print(
        "usage: loadgen [--host H] [--port P | PORT] [--connections N] [--size B] [--depth D]\n"
        "               [--duration S] [--warmup S] [--progress | --quiet] [--name NAME]\n"
        "An echo load generator on lwt++: N connections each keep D messages of B bytes in\n"
        "flight and check every echoed byte. Prints msgs, msgs_per_s, MBps, p50_us, p99_us, errors.\n");
}

}  // namespace

int main(int argc, char** argv) {
    config cfg;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        } else if (a == "--host") {
            cfg.host = next();
        } else if (a == "--port") {
            cfg.port = std::atoi(next().c_str());
        } else if (a == "--connections") {
            cfg.connections = std::atoi(next().c_str());
        } else if (a == "--size") {
            cfg.size = std::strtoul(next().c_str(), nullptr, 10);
        } else if (a == "--depth") {
            cfg.depth = std::atoi(next().c_str());
        } else if (a == "--duration") {
            cfg.duration = std::atof(next().c_str());
        } else if (a == "--warmup") {
            cfg.warmup = std::atof(next().c_str());
        } else if (a == "--progress") {
            cfg.progress = true;
        } else if (a == "--quiet") {
            cfg.progress = false;
        } else if (a == "--name") {
            cfg.name = next();
        } else if (!a.empty() && a[0] != '-') {
            cfg.port = std::atoi(a.c_str());
        } else {
            usage();
            return 2;
        }
    }
    if (cfg.port <= 0 || cfg.port > 65535 || cfg.connections <= 0 || cfg.size == 0 || cfg.depth <= 0 ||
        !(cfg.duration > 0) || cfg.warmup < 0) {
        usage();
        return 2;
    }
    lwt::async_exception_hook = [](std::exception_ptr) {};  // connections report through stats
    stats st;
    try {
        main::run(run_load(cfg, st));
    } catch (const std::exception& e) {
        fmt::print(stderr, "loadgen: {}\n", e.what());
        return 1;
    }
    double secs = cfg.duration;
    double rate = static_cast<double>(st.msgs) / secs;
    fmt::print("name={} engine={} conns={} size={} depth={} msgs={} msgs_per_s={:.0f} MBps={:.2f} p50_us={:.1f} p99_us={:.1f} errors={}\n",
               cfg.name, engine::id(), cfg.connections, cfg.size, cfg.depth, st.msgs, rate,
               rate * static_cast<double>(cfg.size) / 1e6, st.latency.quantile(0.50) / 1000.0,
               st.latency.quantile(0.99) / 1000.0, st.errors);
    if (st.errors > 0) {
        fmt::print(stderr, "loadgen: {}\n", st.first_error.empty() ? "errors" : st.first_error);
        return 1;
    }
    return 0;
}
