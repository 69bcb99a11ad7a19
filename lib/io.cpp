// Lwt_io: buffered channels, files, clients, servers.
//
// Reading guide. A `channel` is a buffer plus the function that fills it (input) or drains
// it (output). Input data waits in buf[ptr, max); output data in buf[0, ptr). Every public
// operation first takes the channel's FIFO lock -- unless the handle belongs to the atomic()
// group holding it -- so operations never interleave. The common cases (a line already
// buffered, a write that fits) complete synchronously without a coroutine frame when the
// channel is free. An output channel that receives data schedules a flush for the next loop
// iteration (auto-flush); the buffer filling up flushes at once.
#include <lwt/bind.hpp>
#include <lwt/condition.hpp>
#include <lwt/io.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>

namespace lwt {

const char* end_of_file::what() const noexcept { return "lwt::end_of_file"; }

namespace io {

const char* channel_closed::what() const noexcept { return "lwt::io::channel_closed"; }

namespace {
std::size_t default_size = 4096;
}

std::size_t default_buffer_size() noexcept { return default_size; }
void set_default_buffer_size(std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::set_default_buffer_size: at least 16 bytes");
    default_size = n;
}

namespace detail {

struct channel {
    bool input = true;
    std::unique_ptr<char[]> buf;
    std::size_t size = 0;
    std::size_t ptr = 0, max = 0;
    bool closed = false;
    read_fn rd;
    write_fn wr;
    close_fn cl;
    std::optional<promise<void>> closing;  // the first close's outcome
    lwt::mutex lk;
    std::uint64_t holder = 0;  // the atomic() group holding the lock, if any
    bool flush_scheduled = false;
    bool standard = false;     // stdout_/stderr_: flushed synchronously at exit
    int fd = -1;               // when over a descriptor (for the exit flush)
    // The call of rd or wr that the operation holding the channel is waiting for: abort()
    // cancels it. Set only while that operation is suspended on it.
    std::optional<promise<std::size_t>> io;
};

namespace {

std::uint64_t next_group = 1;

// Output channels alive, for flush_all and the flush at exit.
struct registry {
    std::mutex m;
    std::vector<std::weak_ptr<channel>> outputs;
};
registry& reg() {
    static auto* r = new registry();
    return *r;
}

std::shared_ptr<channel> new_channel(bool input, std::size_t size) {
    auto c = std::make_shared<channel>();
    c->input = input;
    c->size = size == 0 ? default_size : std::max<std::size_t>(size, 16);
    c->buf.reset(new char[c->size]);
    if (!input) {
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        std::erase_if(r.outputs, [](const std::weak_ptr<channel>& w) { return w.expired(); });
        r.outputs.push_back(c);
    }
    return c;
}

// A non-owning view of a descriptor, for the unix_ calls.
template <class F>
auto with_fd(int fd, F f) {
    unix_::file_descr view(fd);
    struct releaser {
        unix_::file_descr& v;
        ~releaser() { v.release(); }
    } r{view};
    return f(view);
}

// ---- the lock ----

// Takes the channel's lock unless `group` holds it; gives whether it was taken.
promise<bool> enter(channel& c, std::uint64_t group) {
    if (group != 0 && group == c.holder) return lwt::return_(false);
    if (!c.lk.is_locked()) {
        c.lk.lock();  // free: taken at once
        return lwt::return_(true);
    }
    return lwt::map([] { return true; }, c.lk.lock());
}

void schedule_flush(const std::shared_ptr<channel>& c);

// Releases the channel after an operation. An output channel left idle with buffered data
// gets an auto-flush: one that found the channel busy gave way (see auto_flush).
void release(const std::shared_ptr<channel>& c) {
    c->lk.unlock();
    if (!c->input && !c->lk.is_locked()) schedule_flush(c);
}

struct op_guard {
    const std::shared_ptr<channel>& c;
    bool locked;
    ~op_guard() {
        if (locked) release(c);
    }
};

void check_open(const channel& c) {
    if (c.closed) throw channel_closed();
}

// The channel is free (no operation, no group) and open: a synchronous fast path may run.
bool free_and_open(const channel& c) noexcept { return !c.closed && !c.lk.is_locked(); }

// ---- input ----

// co_await of a call of the channel's rd or wr by the operation holding the channel. While
// it waits, abort() can reach the call (c.io); the operation then fails with channel_closed,
// as in Lwt, whatever the cancelled call reported. `fill`: the call read into the buffer's
// free end (c.max grows by the count).
struct io_await {
    using lwt_native_awaiter = void;
    channel& c;
    promise<std::size_t> p;
    lwt::detail::coro_awaiter<std::size_t, lwt::detail::take::copy> inner;
    bool fill = false;

    io_await(channel& c_, promise<std::size_t> p_, bool fill_ = false)
        : c(c_), p(std::move(p_)), inner(lwt::detail::state_of(p)), fill(fill_) {}
    bool await_ready() const noexcept { return inner.await_ready(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (LWT_UNLIKELY(c.closed)) lwt::cancel(p);  // aborted while the operation ran: no wait
        c.io = p;
        if (inner.await_suspend(h)) return true;
        c.io.reset();
        return false;
    }
    std::size_t await_resume() {
        c.io.reset();
        if (LWT_UNLIKELY(p.state() == lwt::state::rejected) && c.closed) throw channel_closed();
        std::size_t n = inner.await_resume();
        if (fill) c.max += n;
        return n;
    }
};

// Reads more into the buffer (compacting it first); 0 at the end of file.
io_await refill(channel& c) {
    if (c.ptr == c.max) {
        c.ptr = c.max = 0;
    } else if (c.max == c.size) {
        std::memmove(c.buf.get(), c.buf.get() + c.ptr, c.max - c.ptr);
        c.max -= c.ptr;
        c.ptr = 0;
    }
    return io_await(c, c.rd(c.buf.get() + c.max, c.size - c.max), true);
}

// A whole line from the buffer, if one is there (without its newline).
std::optional<std::string> buffered_line(channel& c) {
    char* begin = c.buf.get() + c.ptr;
    char* end = c.buf.get() + c.max;
    char* nl = static_cast<char*>(std::memchr(begin, '\n', static_cast<std::size_t>(end - begin)));
    if (nl == nullptr) return std::nullopt;
    char* line_end = (nl > begin && nl[-1] == '\r') ? nl - 1 : nl;
    std::string line(begin, line_end);
    c.ptr = static_cast<std::size_t>(nl + 1 - c.buf.get());
    return line;
}

promise<std::optional<std::string>> read_line_impl(std::shared_ptr<channel> c, std::uint64_t g) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    std::string acc;
    bool any = false;
    for (;;) {
        if (auto line = buffered_line(*c)) {
            if (!any) co_return line;
            acc += *line;
            // "\r" at the end of one chunk and "\n" at the start of the next
            if (line->empty() && !acc.empty() && acc.back() == '\r') acc.pop_back();
            co_return acc;
        }
        if (c->max > c->ptr) {
            acc.append(c->buf.get() + c->ptr, c->max - c->ptr);
            any = true;
            c->ptr = c->max;
        }
        if (co_await refill(*c) == 0) {
            if (!any) co_return std::nullopt;  // nothing read: end of file
            co_return acc;                     // a last line without newline
        }
        if (any && !acc.empty() && acc.back() == '\r' && c->buf[c->ptr] == '\n') {
            acc.pop_back();
            ++c->ptr;
            co_return acc;
        }
    }
}

promise<std::optional<char>> read_char_impl(std::shared_ptr<channel> c, std::uint64_t g) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    if (c->ptr == c->max && co_await refill(*c) == 0) co_return std::nullopt;
    co_return c->buf[c->ptr++];
}

promise<std::string> read_all_impl(std::shared_ptr<channel> c, std::uint64_t g) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    std::string out;
    for (;;) {
        out.append(c->buf.get() + c->ptr, c->max - c->ptr);
        c->ptr = c->max;
        if (co_await refill(*c) == 0) co_return out;
    }
}

promise<std::size_t> read_into_impl(std::shared_ptr<channel> c, std::uint64_t g, char* buf, std::size_t len,
                                    bool exactly) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    std::size_t done = 0;
    while (done < len) {
        if (c->ptr == c->max) {
            if (len - done >= c->size && c->rd) {
                // Larger than the buffer: read straight into the caller's memory.
                std::size_t n = co_await io_await(*c, c->rd(buf + done, len - done));
                if (n == 0) break;
                done += n;
                if (!exactly) break;
                continue;
            }
            if (co_await refill(*c) == 0) break;
        }
        std::size_t n = std::min(len - done, c->max - c->ptr);
        std::memcpy(buf + done, c->buf.get() + c->ptr, n);
        c->ptr += n;
        done += n;
        if (!exactly) break;
    }
    if (exactly && done < len) throw end_of_file();
    co_return done;
}

// ---- output ----

promise<void> flush_locked(std::shared_ptr<channel> c) {
    std::size_t off = 0;
    try {
        while (off < c->ptr) off += co_await io_await(*c, c->wr(c->buf.get() + off, c->ptr - off));
    } catch (...) {
        // What was written is gone from the buffer; the rest stays for a later attempt.
        std::memmove(c->buf.get(), c->buf.get() + off, c->ptr - off);
        c->ptr -= off;
        throw;
    }
    c->ptr = 0;
}

promise<void> flush_impl(std::shared_ptr<channel> c, std::uint64_t g) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    co_await flush_locked(c);
}

// Lwt's auto-flush: at the next iteration, unless the channel is busy then -- an operation
// (or an atomic group) holding it will schedule a new auto-flush when it releases the channel.
// Queueing for the lock instead would put each flush ahead of the writer's next write: with
// an engine where every write takes an iteration (io_uring), a writer of short lines would
// then send one line per iteration.
promise<void> auto_flush(std::shared_ptr<channel> c) {
    co_await lwt::pause();  // data written during this iteration goes out together
    c->flush_scheduled = false;
    if (c->closed || c->ptr == 0 || c->lk.is_locked()) co_return;
    co_await flush_impl(c, 0);
}

void schedule_flush(const std::shared_ptr<channel>& c) {
    if (c->flush_scheduled || c->ptr == 0 || c->closed) return;
    c->flush_scheduled = true;
    // A failed background flush is not lost: the data stays buffered and the next flush,
    // write or close reports the error.
    lwt::dont_wait([c] { return auto_flush(c); }, [](std::exception_ptr) {});
}

promise<void> write_impl(std::shared_ptr<channel> c, std::uint64_t g, std::string data) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    std::size_t off = 0;
    while (off < data.size()) {
        std::size_t room = c->size - c->ptr;
        if (room == 0) {
            co_await flush_locked(c);
            continue;
        }
        if (c->ptr == 0 && data.size() - off >= c->size) {
            // Larger than the buffer: straight from the caller's data.
            off += co_await io_await(*c, c->wr(data.data() + off, data.size() - off));
            continue;
        }
        std::size_t n = std::min(room, data.size() - off);
        std::memcpy(c->buf.get() + c->ptr, data.data() + off, n);
        c->ptr += n;
        off += n;
    }
}

promise<std::size_t> write_from_impl(std::shared_ptr<channel> c, std::uint64_t g, const char* buf, std::size_t len,
                                     bool exactly) {
    op_guard guard{c, co_await enter(*c, g)};
    check_open(*c);
    std::size_t done = 0;
    while (done < len) {
        if (c->ptr == c->size) co_await flush_locked(c);
        std::size_t n;
        if (c->ptr == 0 && len - done >= c->size) {
            // Larger than the buffer: straight from the caller's memory.
            n = co_await io_await(*c, c->wr(buf + done, len - done));
        } else {
            n = std::min(c->size - c->ptr, len - done);
            std::memcpy(c->buf.get() + c->ptr, buf + done, n);
            c->ptr += n;
        }
        done += n;
        if (!exactly) break;
    }
    co_return done;
}

// ---- closing ----

promise<void> close_impl(std::shared_ptr<channel> c, bool flush_first) {
    op_guard guard{c, co_await enter(*c, 0)};
    std::exception_ptr err;
    if (flush_first && !c->input && !c->closed) {
        try {
            co_await flush_locked(c);
        } catch (...) {
            err = std::current_exception();
        }
    }
    c->closed = true;
    c->ptr = c->max = 0;
    if (c->cl) {
        close_fn cl = std::move(c->cl);
        c->cl = nullptr;
        try {
            co_await cl();
        } catch (...) {
            if (!err) err = std::current_exception();
        }
    }
    if (err) std::rethrow_exception(err);
}

promise<void> do_close(const std::shared_ptr<channel>& c, bool flush_first) {
    if (!c->closing) {
        if (!flush_first) {
            c->closed = true;  // waiting operations find it closed
            if (c->io) lwt::cancel(*c->io);  // the running one fails (channel_closed)
        }
        // The channel keeps a plain cell with the outcome, not the closing coroutine (whose
        // frame holds the channel: that would be a cycle).
        auto w = lwt::wait<void>();
        c->closing.emplace(w.first);
        lwt::on_any(
            close_impl(c, flush_first), [r = w.second] { r.resolve(); },
            [r = w.second](std::exception_ptr e) { r.reject(std::move(e)); });
    }
    return *c->closing;
}

std::shared_ptr<channel> fd_channel(bool input, unix_::file_descr fd, std::size_t size, bool own) {
    auto c = new_channel(input, size);
    int raw = fd.release();
    c->fd = raw;
    if (input)
        c->rd = [raw](char* b, std::size_t n) { return with_fd(raw, [&](auto& v) { return unix_::read(v, b, n); }); };
    else
        c->wr = [raw](const char* b, std::size_t n) {
            return with_fd(raw, [&](auto& v) { return unix_::write(v, b, n); });
        };
    if (own) c->cl = [raw] { return unix_::file_descr(raw).close(); };
    return c;
}

}  // namespace

promise<std::uint64_t> lock_group(const std::shared_ptr<channel>& c, std::uint64_t group) {
    if (group != 0 && group == c->holder) return lwt::return_(group);  // nested atomic
    std::uint64_t key = next_group++;
    return lwt::map(
        [c, key] {
            c->holder = key;
            return key;
        },
        c->lk.lock());
}

void unlock_group(const std::shared_ptr<channel>& c) {
    c->holder = 0;
    release(c);
}

}  // namespace detail

using detail::channel;

// ---------------------------------------------------------------------------------------
// Making channels.

input_channel of_fd(input_t, unix_::file_descr fd, std::size_t size) {
    if (!fd.is_open()) throw std::invalid_argument("lwt::io::of_fd: closed descriptor");
    return input_channel(detail::fd_channel(true, std::move(fd), size, true));
}

output_channel of_fd(output_t, unix_::file_descr fd, std::size_t size) {
    if (!fd.is_open()) throw std::invalid_argument("lwt::io::of_fd: closed descriptor");
    return output_channel(detail::fd_channel(false, std::move(fd), size, true));
}

std::pair<input_channel, output_channel> pipe(std::size_t size) {
    auto p = unix_::pipe();
    return {of_fd(input, std::move(p.first), size), of_fd(output, std::move(p.second), size)};
}

input_channel make(input_t, read_fn read, close_fn close, std::size_t size) {
    if (!read) throw std::invalid_argument("lwt::io::make: no read function");
    auto c = detail::new_channel(true, size);
    c->rd = std::move(read);
    c->cl = std::move(close);
    return input_channel(std::move(c));
}

output_channel make(output_t, write_fn write, close_fn close, std::size_t size) {
    if (!write) throw std::invalid_argument("lwt::io::make: no write function");
    auto c = detail::new_channel(false, size);
    c->wr = std::move(write);
    c->cl = std::move(close);
    return output_channel(std::move(c));
}

namespace {
std::shared_ptr<channel> standard(bool input, int fd) {
    auto c = detail::fd_channel(input, unix_::file_descr(fd), 0, false);
    c->standard = true;
    return c;
}

// At exit, what stdout_ and stderr_ still hold is written out synchronously (the loop may be
// gone by then).
struct exit_flusher {
    ~exit_flusher() {
        for (const output_channel* oc : {&stdout_, &stderr_}) {
            channel& c = oc->impl();
            std::size_t off = 0;
            while (off < c.ptr) {
                ssize_t n = ::write(c.fd, c.buf.get() + off, c.ptr - off);
                if (n <= 0) break;
                off += static_cast<std::size_t>(n);
            }
            c.ptr = 0;
        }
    }
};
}  // namespace

const input_channel stdin_(standard(true, 0));
const output_channel stdout_(standard(false, 1));
const output_channel stderr_(standard(false, 2));
namespace {
exit_flusher flusher_at_exit;  // constructed after the channels: destroyed before them
}

output_channel null() {
    return make(output, [](const char*, std::size_t n) { return lwt::return_(n); });
}

input_channel zero() {
    return make(input, [](char* b, std::size_t n) {
        std::memset(b, 0, n);
        return lwt::return_(n);
    });
}

std::size_t buffer_size(const input_channel& ic) noexcept { return ic.impl().size; }
std::size_t buffer_size(const output_channel& oc) noexcept { return oc.impl().size; }

namespace {
promise<void> resize_impl(std::shared_ptr<channel> c, std::size_t n) {
    detail::op_guard guard{c, co_await detail::enter(*c, 0)};
    std::size_t keep = c->input ? c->max - c->ptr : c->ptr;
    if (!c->input && keep > n) {
        co_await detail::flush_locked(c);
        keep = 0;
    }
    if (c->input && keep > n) throw std::invalid_argument("lwt::io::resize_buffer: smaller than the buffered data");
    std::unique_ptr<char[]> nb(new char[n]);
    std::memcpy(nb.get(), c->buf.get() + (c->input ? c->ptr : 0), keep);
    c->buf = std::move(nb);
    c->size = n;
    if (c->input) {
        c->ptr = 0;
        c->max = keep;
    } else {
        c->ptr = keep;
    }
}
}  // namespace

promise<void> resize_buffer(const input_channel& ic, std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::resize_buffer: at least 16 bytes");
    return resize_impl(ic.shared(), n);
}
promise<void> resize_buffer(const output_channel& oc, std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::resize_buffer: at least 16 bytes");
    return resize_impl(oc.shared(), n);
}

// ---------------------------------------------------------------------------------------
// Reading.

namespace {
template <class T>
promise<T> value_or_eof(promise<std::optional<T>> p) {
    std::optional<T> v = co_await std::move(p);
    if (!v) throw end_of_file();
    co_return std::move(*v);
}
}  // namespace

promise<std::optional<std::string>> read_line_opt(const input_channel& ic) {
    channel& c = ic.impl();
    if (detail::free_and_open(c) && c.input)
        if (auto line = detail::buffered_line(c)) return lwt::return_(std::move(line));
    return detail::read_line_impl(ic.shared(), ic.group());
}

promise<std::string> read_line(const input_channel& ic) {
    channel& c = ic.impl();
    if (detail::free_and_open(c) && c.input)
        if (auto line = detail::buffered_line(c)) return lwt::return_(std::move(*line));
    return value_or_eof(detail::read_line_impl(ic.shared(), ic.group()));
}

promise<std::optional<char>> read_char_opt(const input_channel& ic) {
    channel& c = ic.impl();
    if (detail::free_and_open(c) && c.ptr < c.max) return lwt::return_(std::optional<char>(c.buf[c.ptr++]));
    return detail::read_char_impl(ic.shared(), ic.group());
}

promise<char> read_char(const input_channel& ic) {
    channel& c = ic.impl();
    if (detail::free_and_open(c) && c.ptr < c.max) return lwt::return_(c.buf[c.ptr++]);
    return value_or_eof(detail::read_char_impl(ic.shared(), ic.group()));
}

promise<std::string> read(const input_channel& ic) { return detail::read_all_impl(ic.shared(), ic.group()); }

namespace {
promise<std::string> read_count_impl(std::shared_ptr<channel> c, std::uint64_t g, std::size_t count) {
    std::string out(count, '\0');
    std::size_t n = co_await detail::read_into_impl(std::move(c), g, out.data(), count, false);
    out.resize(n);
    co_return out;
}
}  // namespace

promise<std::string> read(const input_channel& ic, std::size_t count) {
    return read_count_impl(ic.shared(), ic.group(), count);
}

promise<std::size_t> read_into(const input_channel& ic, char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::read_into: null buffer");
    return detail::read_into_impl(ic.shared(), ic.group(), buf, len, false);
}

promise<void> read_into_exactly(const input_channel& ic, char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::read_into_exactly: null buffer");
    return lwt::map([](std::size_t) {}, detail::read_into_impl(ic.shared(), ic.group(), buf, len, true));
}

stream<std::string> read_lines(const input_channel& ic) {
    return stream<std::string>::from([ic] { return read_line_opt(ic); });
}

stream<char> read_chars(const input_channel& ic) {
    return stream<char>::from([ic] { return read_char_opt(ic); });
}

// ---------------------------------------------------------------------------------------
// Writing.

namespace {
// The fast path of a write that fits in a free channel's buffer: no frame, no copy.
bool write_fits(channel& c, std::string_view a, std::string_view b = {}) {
    if (!detail::free_and_open(c) || c.input || c.size - c.ptr < a.size() + b.size()) return false;
    for (std::string_view s : {a, b}) {
        if (s.empty()) continue;  // (an empty view's data() may be null: no memcpy from it)
        std::memcpy(c.buf.get() + c.ptr, s.data(), s.size());
        c.ptr += s.size();
    }
    return true;
}
}  // namespace

promise<void> write(const output_channel& oc, std::string_view s) {
    if (write_fits(oc.impl(), s)) {
        detail::schedule_flush(oc.shared());
        return lwt::return_();
    }
    return detail::write_impl(oc.shared(), oc.group(), std::string(s));
}

promise<void> write_line(const output_channel& oc, std::string_view s) {
    if (write_fits(oc.impl(), s, "\n")) {
        detail::schedule_flush(oc.shared());
        return lwt::return_();
    }
    std::string line;
    line.reserve(s.size() + 1);
    line.append(s);
    line.push_back('\n');
    return detail::write_impl(oc.shared(), oc.group(), std::move(line));
}

promise<void> write_char(const output_channel& oc, char c) { return write(oc, std::string_view(&c, 1)); }

promise<void> write_lines(const output_channel& oc, stream<std::string> lines) {
    return lines.iter_s([oc](std::string l) { return write_line(oc, l); });
}

promise<std::size_t> write_from(const output_channel& oc, const char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::write_from: null buffer");
    return detail::write_from_impl(oc.shared(), oc.group(), buf, len, false);
}

promise<void> write_from_exactly(const output_channel& oc, const char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::write_from_exactly: null buffer");
    return lwt::map([](std::size_t) {}, detail::write_from_impl(oc.shared(), oc.group(), buf, len, true));
}

promise<void> flush(const output_channel& oc) { return detail::flush_impl(oc.shared(), oc.group()); }

promise<void> flush_all() {
    std::vector<std::shared_ptr<channel>> live;
    {
        auto& r = detail::reg();
        std::lock_guard<std::mutex> lk(r.m);
        for (auto& w : r.outputs)
            if (auto c = w.lock())
                if (!c->closed) live.push_back(std::move(c));
    }
    std::vector<promise<void>> ps;
    for (auto& c : live) ps.push_back(detail::flush_impl(c, 0));
    return join(std::move(ps));
}

// ---------------------------------------------------------------------------------------
// Closing.

// Lwt: an input channel is closed at once, like abort (nothing to flush).
promise<void> close(const input_channel& ic) { return detail::do_close(ic.shared(), false); }
promise<void> close(const output_channel& oc) { return detail::do_close(oc.shared(), true); }
promise<void> abort(const input_channel& ic) { return detail::do_close(ic.shared(), false); }
promise<void> abort(const output_channel& oc) { return detail::do_close(oc.shared(), false); }
bool is_closed(const input_channel& ic) noexcept { return ic.impl().closed; }
bool is_closed(const output_channel& oc) noexcept { return oc.impl().closed; }

// ---------------------------------------------------------------------------------------
// Numbers.

namespace {
template <class U>
U swap_if(U v, bool big) {
    if constexpr (sizeof(U) == 1) return v;
    if (big == (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)) return v;
    if constexpr (sizeof(U) == 2) return static_cast<U>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
    if constexpr (sizeof(U) == 4) return static_cast<U>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
    if constexpr (sizeof(U) == 8) return static_cast<U>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
}

template <class T, class Raw>
promise<T> read_number(input_channel ic, bool big) {
    char b[sizeof(Raw)];
    co_await read_into_exactly(ic, b, sizeof b);
    Raw r;
    std::memcpy(&r, b, sizeof r);
    r = swap_if(r, big);
    T v;
    std::memcpy(&v, &r, sizeof v);
    co_return v;
}

template <class T, class Raw>
promise<void> write_number(const output_channel& oc, T v, bool big) {
    Raw r;
    std::memcpy(&r, &v, sizeof r);
    r = swap_if(r, big);
    return write(oc, std::string_view(reinterpret_cast<const char*>(&r), sizeof r));
}
}  // namespace

template <bool Big>
promise<std::int16_t> endian<Big>::read_int16(const input_channel& ic) {
    return read_number<std::int16_t, std::uint16_t>(ic, Big);
}
template <bool Big>
promise<std::int32_t> endian<Big>::read_int32(const input_channel& ic) {
    return read_number<std::int32_t, std::uint32_t>(ic, Big);
}
template <bool Big>
promise<std::int64_t> endian<Big>::read_int64(const input_channel& ic) {
    return read_number<std::int64_t, std::uint64_t>(ic, Big);
}
template <bool Big>
promise<float> endian<Big>::read_float32(const input_channel& ic) {
    return read_number<float, std::uint32_t>(ic, Big);
}
template <bool Big>
promise<double> endian<Big>::read_float64(const input_channel& ic) {
    return read_number<double, std::uint64_t>(ic, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int16(const output_channel& oc, std::int16_t v) {
    return write_number<std::int16_t, std::uint16_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int32(const output_channel& oc, std::int32_t v) {
    return write_number<std::int32_t, std::uint32_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int64(const output_channel& oc, std::int64_t v) {
    return write_number<std::int64_t, std::uint64_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_float32(const output_channel& oc, float v) {
    return write_number<float, std::uint32_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_float64(const output_channel& oc, double v) {
    return write_number<double, std::uint64_t>(oc, v, Big);
}
template struct endian<false>;
template struct endian<true>;

// ---------------------------------------------------------------------------------------
// Files.

namespace {
promise<input_channel> open_in(promise<unix_::file_descr> fd, std::size_t size) {
    co_return of_fd(input, co_await std::move(fd), size);
}
promise<output_channel> open_out(promise<unix_::file_descr> fd, std::size_t size) {
    co_return of_fd(output, co_await std::move(fd), size);
}
}  // namespace

promise<input_channel> open_file(input_t, std::string path, std::size_t size) {
    return open_in(unix_::openfile(std::move(path), O_RDONLY), size);
}

promise<output_channel> open_file(output_t, std::string path, int flags, mode_t perm, std::size_t size) {
    return open_out(unix_::openfile(std::move(path), O_WRONLY | O_CREAT | flags, perm), size);
}

promise<std::int64_t> file_length(std::string path) {
    return lwt::map([](const unix_::stats& s) { return s.size; }, unix_::stat(std::move(path)));
}

namespace {
promise<std::optional<std::string>> next_line_of(std::string path, std::shared_ptr<std::optional<input_channel>> ic) {
    if (!*ic) ic->emplace(co_await open_file(input, path));
    auto line = co_await read_line_opt(**ic);
    if (!line) co_await close(**ic);
    co_return line;
}
}  // namespace

stream<std::string> lines_of_file(std::string path) {
    auto ic = std::make_shared<std::optional<input_channel>>();
    return stream<std::string>::from([path = std::move(path), ic] { return next_line_of(path, ic); });
}

promise<void> lines_to_file(std::string path, stream<std::string> lines) {
    return with_file(output, std::move(path), [lines](output_channel& oc) { return write_lines(oc, lines); });
}

namespace detail {

std::pair<std::string, unix_::file_descr> make_temp_file(const std::string& prefix) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/" + prefix + "-XXXXXX";
    int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) throw unix_::unix_error(errno, "mkstemp", tmpl);
    return {tmpl, unix_::file_descr(fd)};
}

std::string make_temp_dir(const std::string& prefix) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw unix_::unix_error(errno, "mkdtemp", tmpl);
    return tmpl;
}

void remove_tree(const std::string& path) noexcept {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Connections: both channels share the socket, closed when both are.

namespace {

std::pair<input_channel, output_channel> socket_channels(unix_::file_descr fd, std::size_t size) {
    auto shared_fd = std::make_shared<unix_::file_descr>(std::move(fd));
    int raw = shared_fd->fd();
    auto in = detail::new_channel(true, size);
    auto out = detail::new_channel(false, size);
    in->fd = out->fd = raw;
    in->rd = [raw](char* b, std::size_t n) { return detail::with_fd(raw, [&](auto& v) { return unix_::recv(v, b, n); }); };
    out->wr = [raw](const char* b, std::size_t n) {
        return detail::with_fd(raw, [&](auto& v) { return unix_::send(v, b, n); });
    };
    auto closer = [shared_fd]() mutable -> promise<void> {
        // The last of the two closes the socket.
        if (shared_fd.use_count() > 1) {
            shared_fd.reset();
            return lwt::return_();
        }
        auto fd = std::move(shared_fd);
        return fd->close();
    };
    in->cl = closer;
    out->cl = std::move(closer);
    return {input_channel(std::move(in)), output_channel(std::move(out))};
}

}  // namespace

std::pair<input_channel, output_channel> of_socket(unix_::file_descr fd, std::size_t size) {
    if (!fd.is_open()) throw std::invalid_argument("lwt::io::of_socket: closed descriptor");
    return socket_channels(std::move(fd), size);
}

namespace {

promise<std::pair<input_channel, output_channel>> open_connection_impl(unix_::sockaddr addr, std::size_t size) {
    auto domain = static_cast<unix_::socket_domain>(addr.family());
    auto fd = unix_::socket(domain, unix_::socket_type::stream);
    co_await unix_::connect(fd, addr);
    if (domain != unix_::socket_domain::unix_) unix_::setsockopt(fd, unix_::socket_bool_option::tcp_nodelay, true);
    co_return socket_channels(std::move(fd), size);
}

}  // namespace

promise<std::pair<input_channel, output_channel>> open_connection(const unix_::sockaddr& addr, std::size_t size) {
    return open_connection_impl(addr, size);
}

// ---------------------------------------------------------------------------------------
// Servers.

namespace detail {

struct server_state {
    unix_::file_descr listener;
    unix_::sockaddr addr;
    server_options opts;
    socket_handler handler;
    std::size_t active = 0;
    bool shut = false;
    std::optional<promise<void>> loop;
    lwt::condition<void> slot_freed;
};

}  // namespace detail

namespace {

using state_ptr = std::shared_ptr<detail::server_state>;

promise<void> serve_one(state_ptr st, unix_::file_descr fd, unix_::sockaddr peer) {
    try {
        co_await st->handler(peer, std::move(fd));
    } catch (const lwt::canceled&) {
        // cancelled (by shutdown of the program's loop, or by the handler's own choice)
    } catch (...) {
        // The handler's failure goes to the hook; the server goes on (Lwt's behaviour).
        lwt::detail::call_async_exception_hook(std::current_exception());
    }
    --st->active;
    st->slot_freed.signal();
}

enum class accept_outcome { accepted, retry, back_off, stop };

promise<void> accept_loop(state_ptr st) {
    // The state holds this loop's promise (to cancel it) and the loop holds the state: when
    // the loop ends, it lets go of its promise so that the pair is freed.
    struct forget_loop {
        detail::server_state& s;
        ~forget_loop() { s.loop.reset(); }
    } forget{*st};
    const std::int64_t min_backoff = 10'000'000, max_backoff = 1'000'000'000;
    std::int64_t backoff = min_backoff;
    while (!st->shut) {
        if (st->opts.max_connections != 0 && st->active >= st->opts.max_connections) {
            co_await st->slot_freed.wait();
            continue;
        }
        std::optional<std::pair<unix_::file_descr, unix_::sockaddr>> conn;
        accept_outcome what = accept_outcome::accepted;
        std::exception_ptr fatal;
        try {
            conn.emplace(co_await unix_::accept(st->listener));
            backoff = min_backoff;
        } catch (const unix_::unix_error& e) {
            switch (e.error()) {
                case ECONNABORTED:
                case EINTR:
                case EPROTO:
                    what = accept_outcome::retry;  // that client gave up: next one
                    break;
                case EMFILE:
                case ENFILE:
                case ENOBUFS:
                case ENOMEM:
                    what = accept_outcome::back_off;  // out of descriptors: wait, then serve again
                    break;
                default:
                    what = accept_outcome::stop;
                    if (!st->shut) fatal = std::current_exception();
            }
        } catch (const lwt::canceled&) {
            what = accept_outcome::stop;
        }
        if (what == accept_outcome::stop) {
            if (fatal) lwt::detail::call_async_exception_hook(fatal);
            co_return;
        }
        if (what == accept_outcome::retry) continue;
        if (what == accept_outcome::back_off) {
            co_await unix_::sleep(std::chrono::nanoseconds(backoff));
            backoff = std::min(backoff * 2, max_backoff);
            continue;
        }
        if (st->opts.no_delay && conn->second.family() != AF_UNIX) {
            try {
                unix_::setsockopt(conn->first, unix_::socket_bool_option::tcp_nodelay, true);
            } catch (const unix_::unix_error&) {
            }
        }
        ++st->active;
        lwt::async([st, c = std::move(conn->first), peer = conn->second]() mutable {
            return serve_one(st, std::move(c), peer);
        });
    }
}

promise<server> establish(unix_::sockaddr addr, socket_handler handler, server_options opts) {
    auto st = std::make_shared<detail::server_state>();
    auto domain = static_cast<unix_::socket_domain>(addr.family());
    st->listener = unix_::socket(domain, unix_::socket_type::stream);
    if (domain != unix_::socket_domain::unix_)
        unix_::setsockopt(st->listener, unix_::socket_bool_option::so_reuseaddr, true);
    unix_::bind(st->listener, addr);
    unix_::listen(st->listener, opts.backlog);
    st->addr = domain == unix_::socket_domain::unix_ ? addr : unix_::getsockname(st->listener);
    st->opts = opts;
    st->handler = std::move(handler);
    auto loop = accept_loop(st);
    if (loop.is_pending()) st->loop.emplace(std::move(loop));  // (ended at once: nothing to cancel)
    co_return server(st);
}

promise<void> handle_with_channels(client_handler handler, std::size_t size, unix_::sockaddr peer,
                                   unix_::file_descr fd) {
    auto ch = socket_channels(std::move(fd), size);
    try {
        co_await handler(peer, ch.first, ch.second);
    } catch (const lwt::canceled&) {
    } catch (...) {
        // Reported before the connection is closed, so the client sees the close after it.
        lwt::detail::call_async_exception_hook(std::current_exception());
    }
    // Closed in every case (a second close of a channel the handler closed is harmless).
    try {
        co_await close(ch.second);
    } catch (...) {
    }
    try {
        co_await close(ch.first);
    } catch (...) {
    }
}

}  // namespace

promise<server> establish_server_with_client_socket(const unix_::sockaddr& addr, socket_handler handler,
                                                    server_options options) {
    if (!handler) throw std::invalid_argument("lwt::io::establish_server: no handler");
    return establish(addr, std::move(handler), options);
}

promise<server> establish_server_with_client_address(const unix_::sockaddr& addr, client_handler handler,
                                                     server_options options) {
    if (!handler) throw std::invalid_argument("lwt::io::establish_server: no handler");
    std::size_t size = options.buffer_size;
    return establish(
        addr,
        [handler = std::move(handler), size](unix_::sockaddr peer, unix_::file_descr fd) {
            return handle_with_channels(handler, size, peer, std::move(fd));
        },
        options);
}

unix_::sockaddr server::listening_address() const { return s_->addr; }
std::size_t server::connections() const { return s_->active; }

promise<void> shutdown_server(const server& srv) {
    auto& st = srv.impl();
    if (st.shut) return lwt::return_();
    st.shut = true;
    if (st.loop) {
        auto loop = *st.loop;
        cancel(loop);
    }
    st.slot_freed.broadcast();
    if (st.addr.family() == AF_UNIX) {
        std::string path = st.addr.host();
        if (!path.empty() && path[0] != '@') ::unlink(path.c_str());
    }
    return st.listener.close();
}

}  // namespace io
}  // namespace lwt
