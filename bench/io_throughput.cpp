// io_throughput: Lwt_io's data path measured -- lines through read_line/write_line over a
// pipe, bulk bytes through read_into/write_from over a pipe and a file, and through a loopback
// TCP connection into the loop's borrowed receive buffers (recv_chunk) -- beside the same
// program written with plain blocking read(2)/write(2) (two threads for a pipe, so the
// limit: no event loop, no buffering layer beyond one array). bench/lwt/io_throughput.ml is
// the same program on OCaml's Lwt; bench/io_throughput.sh runs the three side by side.
//
//   io_throughput [--blocking] lines N             N short lines through a pipe
//   io_throughput [--blocking] pipe BYTES          BYTES through a pipe in 64 KiB requests
//   io_throughput [--blocking] socket BYTES        BYTES through loopback TCP, read by recv_chunk
//   io_throughput [--blocking] file BYTES PATH     write BYTES to PATH, then read them back
//
// Every line and every byte is verified by the reader. One result line per measure:
//   impl=lwt++(uring) test=lines n=10000000 seconds=1.234 per_s=8103727 mb_per_s=97.2
// LWT_ENGINE=uring|epoll selects the engine.
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace lwt;

namespace {

// ---- what is sent, and how the reader checks it ----

// Lines: a cycle of 16 short lines of different lengths (10 to 40 bytes with the newline).
std::array<std::string, 16> make_lines() {
    std::array<std::string, 16> l;
    for (std::size_t i = 0; i < l.size(); ++i) l[i] = fmt::format("line {:02} {}", i, std::string(2 * i, 'x' + i % 3));
    return l;
}
const std::array<std::string, 16> lines = make_lines();

std::uint64_t line_bytes(std::uint64_t n) {
    std::uint64_t bytes = 0;
    for (std::uint64_t i = 0; i < n; ++i) bytes += lines[i % lines.size()].size() + 1;
    return bytes;
}

// Bytes: a pattern whose period (4093, a prime) does not divide any request size, so a lost,
// repeated or reordered chunk shows up at the next comparison.
constexpr std::size_t period = 4093;
constexpr std::size_t chunk = 64 * 1024;
const std::vector<char> pattern = [] {
    std::vector<char> p(chunk + period);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>((i % period) * 131 % 251);
    return p;
}();
const char* expected_at(std::uint64_t offset) { return pattern.data() + offset % period; }

[[noreturn]] void corrupt(const std::string& what) {
    fmt::print(stderr, "io_throughput: data corrupted: {}\n", what);
    std::exit(1);
}

void check_bytes(std::uint64_t offset, const char* got, std::size_t n) {
    if (std::memcmp(got, expected_at(offset), n) != 0) corrupt(fmt::format("at byte {}", offset));
}

// ---- reporting ----

using clock_type = std::chrono::steady_clock;

struct timer {
    clock_type::time_point start = clock_type::now();
    double seconds() const { return std::chrono::duration<double>(clock_type::now() - start).count(); }
};

std::string impl_name;

void report(const char* test, std::uint64_t n, std::uint64_t bytes, double s) {
    fmt::print("impl={} test={} n={} seconds={:.3f} per_s={:.0f} mb_per_s={:.1f}\n", impl_name, test, n, s, n / s,
               static_cast<double>(bytes) / s / 1e6);
    std::fflush(stdout);
}

void check_sys(bool ok, const char* call) {
    if (!ok) throw std::system_error(errno, std::generic_category(), call);
}

// ---- lwt++ ----

promise<void> lwt_lines(std::uint64_t n) {
    auto [ic, oc] = io::pipe();
    auto writer = [](io::output_channel oc, std::uint64_t n) -> promise<void> {
        for (std::uint64_t i = 0; i < n; ++i) co_await io::write_line(oc, lines[i % lines.size()]);
        co_await io::close(oc);
    };
    auto reader = [](io::input_channel ic, std::uint64_t n) -> promise<void> {
        std::uint64_t i = 0;
        while (auto l = co_await io::read_line_opt(ic)) {
            if (*l != lines[i % lines.size()]) corrupt(fmt::format("line {}", i));
            ++i;
        }
        if (i != n) corrupt(fmt::format("{} lines received, {} sent", i, n));
    };
    timer t;
    co_await join(writer(oc, n), reader(ic, n));
    report("lines", n, line_bytes(n), t.seconds());
}

promise<void> send_bytes(io::output_channel oc, std::uint64_t total) {
    for (std::uint64_t off = 0; off < total;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - off));
        co_await io::write_from_exactly(oc, expected_at(off), n);
        off += n;
    }
    co_await io::close(oc);
}

promise<void> receive_bytes(io::input_channel ic, std::uint64_t total) {
    std::vector<char> buf(chunk);
    std::uint64_t off = 0;
    for (;;) {
        std::size_t n = co_await io::read_into(ic, buf.data(), buf.size());
        if (n == 0) break;
        check_bytes(off, buf.data(), n);
        off += n;
    }
    if (off != total) corrupt(fmt::format("{} bytes received, {} sent", off, total));
    co_await io::close(ic);
}

promise<void> lwt_pipe(std::uint64_t total) {
    auto [ic, oc] = io::pipe();
    timer t;
    co_await join(send_bytes(oc, total), receive_bytes(ic, total));
    report("pipe", total / chunk, total, t.seconds());
}

// The reader takes the bytes in the loop's borrowed buffers (unix_::recv_chunk: no copy out
// of them; on io_uring a multishot receive, several buffers per completion with bundles).
promise<void> receive_chunks(unix_::file_descr s, std::uint64_t total) {
    std::uint64_t off = 0;
    for (;;) {
        unix_::chunk c = co_await unix_::recv_chunk(s);
        if (c.empty()) break;
        check_bytes(off, c.data(), c.size());
        off += c.size();
    }
    if (off != total) corrupt(fmt::format("{} bytes received, {} sent", off, total));
}

promise<void> lwt_socket(std::uint64_t total) {
    namespace u = unix_;
    u::file_descr srv = u::socket(u::socket_domain::inet, u::socket_type::stream);
    u::bind(srv, u::sockaddr::inet("127.0.0.1", 0));
    u::listen(srv);
    u::file_descr c = u::socket(u::socket_domain::inet, u::socket_type::stream);
    promise<std::pair<u::file_descr, u::sockaddr>> accepted = u::accept(srv);
    co_await u::connect(c, u::getsockname(srv));
    u::file_descr s = (co_await std::move(accepted)).first;
    auto [unused_in, out] = io::of_socket(std::move(c));
    co_await io::close(unused_in);  // (closing `out` then closes the socket: the reader's end)
    timer t;
    co_await join(send_bytes(out, total), receive_chunks(std::move(s), total));
    report("socket", total / chunk, total, t.seconds());
    fmt::print("  (receives that took several buffers in one completion: {})\n", engine::bundled_receives());
}

promise<void> lwt_file(std::uint64_t total, std::string path) {
    timer w;
    co_await send_bytes(co_await io::open_file(io::output, path), total);
    report("file_write", total / chunk, total, w.seconds());
    timer r;
    co_await receive_bytes(co_await io::open_file(io::input, path), total);
    report("file_read", total / chunk, total, r.seconds());
}

// ---- plain blocking read/write: the limit ----

void write_all(int fd, const char* p, std::size_t n) {
    while (n > 0) {
        ssize_t k = ::write(fd, p, n);
        check_sys(k > 0, "write");
        p += k;
        n -= static_cast<std::size_t>(k);
    }
}

// The same buffering as a channel (4096 bytes), without the event loop.
void blocking_line_writer(int fd, std::uint64_t n) {
    std::vector<char> buf(io::default_buffer_size());
    std::size_t used = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        const std::string& l = lines[i % lines.size()];
        if (used + l.size() + 1 > buf.size()) {
            write_all(fd, buf.data(), used);
            used = 0;
        }
        std::memcpy(buf.data() + used, l.data(), l.size());
        used += l.size();
        buf[used++] = '\n';
    }
    write_all(fd, buf.data(), used);
    ::close(fd);
}

void blocking_line_reader(int fd, std::uint64_t n) {
    std::vector<char> buf(io::default_buffer_size());
    std::string line;  // a line may span two reads
    std::uint64_t i = 0;
    for (;;) {
        ssize_t k = ::read(fd, buf.data(), buf.size());
        check_sys(k >= 0, "read");
        if (k == 0) break;
        const char* p = buf.data();
        const char* end = p + k;
        while (p < end) {
            const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
            if (nl == nullptr) {
                line.append(p, end);
                break;
            }
            line.append(p, nl);
            if (line != lines[i % lines.size()]) corrupt(fmt::format("line {}", i));
            line.clear();
            ++i;
            p = nl + 1;
        }
    }
    if (i != n) corrupt(fmt::format("{} lines received, {} sent", i, n));
    ::close(fd);
}

void blocking_send(int fd, std::uint64_t total) {
    for (std::uint64_t off = 0; off < total;) {
        std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - off));
        write_all(fd, expected_at(off), n);
        off += n;
    }
    ::close(fd);
}

void blocking_receive(int fd, std::uint64_t total) {
    std::vector<char> buf(chunk);
    std::uint64_t off = 0;
    for (;;) {
        ssize_t k = ::read(fd, buf.data(), buf.size());
        check_sys(k >= 0, "read");
        if (k == 0) break;
        check_bytes(off, buf.data(), static_cast<std::size_t>(k));
        off += static_cast<std::uint64_t>(k);
    }
    if (off != total) corrupt(fmt::format("{} bytes received, {} sent", off, total));
    ::close(fd);
}

// A connected loopback TCP pair: fds[0] the accepted end (read), fds[1] the client (write).
void tcp_pair(int fds[2]) {
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check_sys(l >= 0, "socket");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    check_sys(::bind(l, reinterpret_cast<::sockaddr*>(&a), sizeof a) == 0, "bind");
    check_sys(::listen(l, 1) == 0, "listen");
    check_sys(::getsockname(l, reinterpret_cast<::sockaddr*>(&a), &len) == 0, "getsockname");
    fds[1] = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check_sys(fds[1] >= 0, "socket");
    check_sys(::connect(fds[1], reinterpret_cast<::sockaddr*>(&a), sizeof a) == 0, "connect");
    fds[0] = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
    check_sys(fds[0] >= 0, "accept4");
    ::close(l);
}

template <class W, class R>
void blocking_pipe(const char* test, W writer, R reader, std::uint64_t n, std::uint64_t count, std::uint64_t bytes,
                   bool tcp = false) {
    int fds[2];
    if (tcp)
        tcp_pair(fds);
    else
        check_sys(::pipe2(fds, O_CLOEXEC) == 0, "pipe2");
    timer t;
    std::thread w([&] { writer(fds[1], n); });
    reader(fds[0], n);
    w.join();
    report(test, count, bytes, t.seconds());
}

std::uint64_t parse_count(const char* s) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(s, &end, 10);
    if (end == s) throw std::invalid_argument(fmt::format("not a number: {}", s));
    switch (*end) {
        case 'k': case 'K': v <<= 10; break;
        case 'm': case 'M': v <<= 20; break;
        case 'g': case 'G': v <<= 30; break;
        default: break;
    }
    return v;
}

int usage() {
    fmt::print(stderr,
               "usage: io_throughput [--blocking] lines N\n"
               "       io_throughput [--blocking] pipe BYTES\n"
               "       io_throughput [--blocking] socket BYTES\n"
               "       io_throughput [--blocking] file BYTES PATH\n"
               "(BYTES and N accept k, M, G suffixes)\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    bool blocking = !args.empty() && args[0] == "--blocking";
    if (blocking) args.erase(args.begin());
    if (args.size() < 2) return usage();
    const std::string& test = args[0];
    std::uint64_t n = parse_count(args[1].c_str());
    impl_name = blocking ? std::string("blocking") : fmt::format("lwt++({})", engine::id());
    if (test == "lines") {
        if (blocking)
            blocking_pipe("lines", blocking_line_writer, blocking_line_reader, n, n, line_bytes(n));
        else
            main::run(lwt_lines(n));
    } else if (test == "pipe") {
        if (blocking)
            blocking_pipe("pipe", blocking_send, blocking_receive, n, n / chunk, n);
        else
            main::run(lwt_pipe(n));
    } else if (test == "socket") {
        if (blocking)
            blocking_pipe("socket", blocking_send, blocking_receive, n, n / chunk, n, true);
        else
            main::run(lwt_socket(n));
    } else if (test == "file" && args.size() == 3) {
        const std::string& path = args[2];
        if (blocking) {
            timer w;
            int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
            check_sys(fd >= 0, "open");
            blocking_send(fd, n);
            report("file_write", n / chunk, n, w.seconds());
            timer r;
            fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            check_sys(fd >= 0, "open");
            blocking_receive(fd, n);
            report("file_read", n / chunk, n, r.seconds());
        } else {
            main::run(lwt_file(n, path));
        }
        ::unlink(path.c_str());
    } else {
        return usage();
    }
}
