// Lwt_io's channels: making them, their buffers, flushing (and auto-flush), closing, and the
// locking of atomic groups. The reading guide of lwt::io is in channel_impl.hpp.
#include "channel_impl.hpp"

#include <lwt/bind.hpp>
#include <lwt/io/channel.hpp>
#include <lwt/unix/fd.hpp>
#include <lwt/unix/socket.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace lwt {

const char* end_of_file::what() const noexcept { return "lwt::end_of_file"; }

}  // namespace lwt

namespace lwt::detail {

namespace {

// The default buffer size: a setting of the process, read by every loop.
std::atomic<std::size_t> default_size{4096};
// Names atomic groups; a key is only ever compared with its own channel's holder, and a
// channel belongs to one loop: one counter per loop.
constinit thread_local std::uint64_t next_group = 1;

// The output channels alive on this loop, for flush_all (weak references, pruned of dead
// entries at each new output channel). Each loop flushes only its own: a channel belongs to
// the loop that made it (docs/semantics.md rule 13).
std::vector<std::weak_ptr<io_channel>>& outputs() {
    static thread_local std::vector<std::weak_ptr<io_channel>> list;
    return list;
}

// This loop's free channel buffers of the default size, kept for the next channel that needs
// one (at most `keep`: beyond, they go back to the heap). A buffer given back after the
// thread's cache is destroyed (a static channel, at exit) goes to the heap.
struct buffer_cache {
    static constexpr std::size_t keep = 64;
    std::size_t size = 0;  // of the buffers kept (the default size when they were kept)
    std::vector<char*> free;
    ~buffer_cache();
};
constinit thread_local bool cache_gone = false;
buffer_cache& cache() {
    static thread_local buffer_cache c;
    return c;
}
buffer_cache::~buffer_cache() {
    for (char* b : free) delete[] b;
    cache_gone = true;
}

// The memory of request servers' channels (socket_view_channels), made per burst of requests
// on a connection: what this loop's last ones used is kept for the next (at most `keep`),
// which saves their allocation. A channel dying after the thread's store did goes to the heap.
struct channel_memory {
    static constexpr std::size_t keep = 256;
    std::vector<void*> free;
    ~channel_memory();
};
thread_local channel_memory spare_memory;
thread_local bool spare_memory_gone = false;
channel_memory::~channel_memory() {
    for (void* m : free) ::operator delete(m);
    spare_memory_gone = true;
}

void give_back(io_channel* c) noexcept {
    c->~io_channel();
    if (!spare_memory_gone && spare_memory.free.size() < channel_memory::keep) {
        try {
            spare_memory.free.push_back(c);
            return;
        } catch (...) {  // (no memory to keep it: it goes back to the heap)
        }
    }
    ::operator delete(c);
}

std::shared_ptr<io_channel> made_channel(bool reuse_memory) {
    if (!reuse_memory) return std::make_shared<io_channel>();
    void* m;
    if (!spare_memory_gone && !spare_memory.free.empty()) {
        m = spare_memory.free.back();
        spare_memory.free.pop_back();
    } else {
        m = ::operator new(sizeof(io_channel));
    }
    return std::shared_ptr<io_channel>(new (m) io_channel(), &give_back);  // (give_back too if this throws)
}

std::shared_ptr<io_channel> new_channel(bool input, std::size_t size, bool reuse_memory = false) {
    auto c = made_channel(reuse_memory);
    c->input = input;
    c->size = size == 0 ? default_size.load(std::memory_order_relaxed) : std::max<std::size_t>(size, 16);
    if (!input) {
        // Expired entries go when the list has doubled since the last sweep: amortized O(1)
        // per channel (a sweep per channel made accepting n connections O(n^2)).
        auto& list = outputs();
        static thread_local std::size_t swept = 0;
        if (list.size() >= 2 * swept + 16) {
            std::erase_if(list, [](const std::weak_ptr<io_channel>& w) { return w.expired(); });
            swept = list.size();
        }
        list.push_back(c);
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

// `own`: closing the channel closes the descriptor (not for the standard channels).
std::shared_ptr<io_channel> fd_channel(bool input, unix_::file_descr fd, std::size_t size, bool own) {
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

char* own_buffer(io_channel& c) {
    if (c.owned) return c.base;
    drop_buffer(c);
    if (!cache_gone) {
        buffer_cache& k = cache();
        if (k.size == c.size && !k.free.empty()) {
            c.base = k.free.back();
            k.free.pop_back();
            c.owned = true;
            return c.base;
        }
    }
    c.base = new char[c.size];
    c.owned = true;
    return c.base;
}

void drop_buffer(io_channel& c) noexcept {
    c.ptr = c.max = 0;  // (no data: positions into no buffer)
    if (c.owned) {
        c.owned = false;
        char* b = std::exchange(c.base, nullptr);
        if (!cache_gone && c.size == default_size.load(std::memory_order_relaxed)) {
            buffer_cache& k = cache();
            if (k.size != c.size) {  // the default size changed: the old ones go
                for (char* f : k.free) delete[] f;
                k.free.clear();
                k.size = c.size;
            }
            if (k.free.size() < buffer_cache::keep) {
                try {
                    k.free.push_back(b);
                    return;
                } catch (...) {  // (no memory to keep it: it goes back to the heap)
                }
            }
        }
        delete[] b;
        return;
    }
    c.borrowed.release();
    c.base = nullptr;
}

io_channel::~io_channel() { drop_buffer(*this); }

unix_::chunk_op chunk_io::recv_chunk_of(int fd) {
    return with_fd(fd, [](const unix_::file_descr& v) { return unix_::recv_chunk(v); });
}

std::size_t chunk_io::await_resume() {
    c.receiving = nullptr;
    unix_::chunk ch;
    try {
        ch = inner.await_resume();
    } catch (...) {
        if (c.closed) throw io::channel_closed();  // aborted: as channel_io
        throw;
    }
    const std::size_t n = ch.size();
    give_chunk(c, std::move(ch));  // (refill_io dropped the buffer)
    return n;
}

promise<std::size_t> fill_waiting(std::shared_ptr<io_channel> c) {
    channel_guard guard{c, co_await enter_channel(*c, 0)};
    check_open(*c);
    if (c->ptr < c->max) co_return c->max - c->ptr;
    co_return co_await refill(*c);
}

promise<unix_::chunk> start_arrival(io_channel& c) {
    c.lk.lock();  // (free: when_input checked)
    drop_buffer(c);
    promise<unix_::chunk> got = chunk_io::recv_chunk_of(c.recv_fd);
    c.arriving = state_of(got);
    return got;
}

std::size_t finish_arrival(const std::shared_ptr<io_channel>& c, unix_::chunk got, std::exception_ptr failed,
                           std::exception_ptr& error) noexcept {
    c->arriving = nullptr;
    std::size_t n = 0;
    if (c->closed)
        error = std::make_exception_ptr(io::channel_closed());  // aborted meanwhile: as chunk_io
    else if (failed)
        error = std::move(failed);
    else {
        n = got.size();
        give_chunk(*c, std::move(got));
    }
    release_channel(c);
    return n;
}

namespace {

// stdin_/stdout_/stderr_: over 0, 1 and 2, which they do not own.
std::shared_ptr<io_channel> standard(bool input, int fd) { return fd_channel(input, unix_::file_descr(fd), 0, false); }


// Lwt's auto-flush: at the next iteration, unless the channel is busy then -- an operation
// (or an atomic group) holding it will schedule a new auto-flush when it releases the channel.
// Queueing for the lock instead would put each flush ahead of the writer's next write: with
// an engine where every write takes an iteration (io_uring), a writer of short lines would
// then send one line per iteration.
promise<void> auto_flush(std::shared_ptr<io_channel> c) {
    co_await lwt::pause();  // data written during this iteration goes out together
    c->flush_scheduled = false;
    if (c->closed || c->ptr == 0 || c->lk.is_locked()) co_return;
    co_await flush_impl(c, 0);
}

// ---- closing ----

promise<void> close_impl(std::shared_ptr<io_channel> c, bool flush_first) {
    channel_guard guard{c, co_await enter_channel(*c, 0)};
    std::exception_ptr err;
    if (flush_first && !c->input && !c->closed) {
        try {
            co_await flush_locked(c);
        } catch (...) {
            err = std::current_exception();
        }
    }
    c->closed = true;
    drop_buffer(*c);  // (what was unread is dropped: positions back to 0)
    if (c->cl) {
        io::close_fn cl = std::move(c->cl);
        c->cl = nullptr;
        try {
            co_await cl();
        } catch (...) {
            if (!err) err = std::current_exception();
        }
    }
    if (err) std::rethrow_exception(err);
}

promise<void> close_channel(const std::shared_ptr<io_channel>& c, bool flush_first) {
    if (!c->closing) {
        if (!flush_first) {
            c->closed = true;  // waiting operations find it closed
            if (c->io) lwt::cancel(*c->io);  // the running one fails (channel_closed)
            if (c->receiving != nullptr) c->receiving->cancel();
            if (c->arriving != nullptr) detail::cancel(c->arriving);
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

promise<void> resize_impl(std::shared_ptr<io_channel> c, std::size_t n) {
    channel_guard guard{c, co_await enter_channel(*c, 0)};
    std::size_t keep = c->input ? c->max - c->ptr : c->ptr;
    if (!c->input && keep > n) {
        co_await flush_locked(c);
        keep = 0;
    }
    if (c->input && keep > n) throw std::invalid_argument("lwt::io::resize_buffer: smaller than the buffered data");
    char* nb = new char[n];
    if (keep > 0) std::memcpy(nb, c->base + (c->input ? c->ptr : 0), keep);
    drop_buffer(*c);
    c->base = nb;
    c->owned = true;
    c->size = n;
    if (c->input) {
        c->ptr = 0;
        c->max = keep;
    } else {
        c->ptr = keep;
    }
}

}  // namespace

namespace {

// Points a pair of channels at a socket, for reading and writing (no closing).
void attach_socket(io_channel& in, io_channel& out, int raw, bool borrow) {
    in.fd = out.fd = raw;
    in.recv_fd = borrow ? raw : -1;
    in.rd = [raw](char* b, std::size_t n) { return with_fd(raw, [&](auto& v) { return unix_::recv(v, b, n); }); };
    out.wr = [raw](const char* b, std::size_t n) {
        return with_fd(raw, [&](auto& v) { return unix_::send(v, b, n); });
    };
}

}  // namespace

std::pair<io::input_channel, io::output_channel> socket_view_channels(int fd, std::size_t size, bool borrow) {
    auto in = new_channel(true, size, true);
    auto out = new_channel(false, size, true);
    attach_socket(*in, *out, fd, borrow);
    // Closing the output half-closes the socket, as socket_channels' does; the owner closes it.
    out->cl = [fd] {
        ::shutdown(fd, SHUT_WR);
        return lwt::return_();
    };
    return {io::input_channel(std::move(in)), io::output_channel(std::move(out))};
}

bool idle_pair(const io::input_channel& ic, const io::output_channel& oc) noexcept {
    const io_channel& i = ic.impl();
    const io_channel& o = oc.impl();
    return !i.closed && !o.closed && !i.lk.is_locked() && !o.lk.is_locked() && i.ptr == i.max && o.ptr == 0;
}

void give_chunk(io_channel& c, unix_::chunk got) noexcept {
    if (got.empty()) return;
    c.max = got.size();
    c.borrowed = std::move(got);
    c.base = c.borrowed.data();
}

std::pair<io::input_channel, io::output_channel> socket_channels(unix_::file_descr fd, std::size_t size, bool borrow) {
    auto shared_fd = std::make_shared<unix_::file_descr>(std::move(fd));
    int raw = shared_fd->fd();
    auto in = new_channel(true, size);
    auto out = new_channel(false, size);
    attach_socket(*in, *out, raw, borrow);
    auto closer = [shared_fd](bool output) mutable -> promise<void> {
        // The last of the two closes the socket. The output closed first half-closes it: the
        // peer reads our data, then the end of the stream, and can still be read from.
        if (shared_fd.use_count() > 1) {
            if (output) ::shutdown(shared_fd->fd(), SHUT_WR);
            shared_fd.reset();
            return lwt::return_();
        }
        auto fd = std::move(shared_fd);
        return fd->close();
    };
    in->cl = [c = closer]() mutable { return c(false); };
    out->cl = [c = std::move(closer)]() mutable { return c(true); };
    shared_fd.reset();  // the two closers hold the socket
    return {io::input_channel(std::move(in)), io::output_channel(std::move(out))};
}

std::vector<std::shared_ptr<io_channel>> open_output_channels() {
    std::vector<std::shared_ptr<io_channel>> live;
    for (auto& w : outputs())
        if (auto c = w.lock())
            if (!c->closed) live.push_back(std::move(c));
    return live;
}

// ---- flushing ----

promise<void> flush_locked(std::shared_ptr<io_channel> c) {
    std::size_t off = 0;
    try {
        while (off < c->ptr) off += co_await channel_io(*c, c->wr(c->base + off, c->ptr - off));
    } catch (...) {
        // What was written is gone from the buffer; the rest stays for a later attempt.
        if (c->ptr > off) std::memmove(c->base, c->base + off, c->ptr - off);
        c->ptr -= off;
        throw;
    }
    c->ptr = 0;
    drop_buffer(*c);  // empty: the buffer goes back until the next write
}

promise<void> flush_impl(std::shared_ptr<io_channel> c, std::uint64_t g) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    co_await flush_locked(c);
}

// schedule_flush's slow path: the channel has data, is open and has no flush due.
void start_auto_flush(const std::shared_ptr<io_channel>& c) {
    c->flush_scheduled = true;
    // A failed background flush is not lost: the data stays buffered and the next flush,
    // write or close reports the error.
    lwt::dont_wait([c] { return auto_flush(c); }, [](std::exception_ptr) {});
}

// ---- atomic groups ----

promise<std::uint64_t> lock_group(const std::shared_ptr<io_channel>& c, std::uint64_t group) {
    if (group != 0 && group == c->holder) return lwt::return_(group);  // nested atomic
    std::uint64_t key = next_group++;
    return lwt::map(
        [c, key] {
            c->holder = key;
            return key;
        },
        c->lk.lock());
}

void unlock_group(const std::shared_ptr<io_channel>& c) {
    c->holder = 0;
    release_channel(c);
}


}  // namespace lwt::detail

namespace lwt::io {

using detail::io_channel;

const char* channel_closed::what() const noexcept { return "lwt::io::channel_closed"; }

std::size_t default_buffer_size() noexcept { return detail::default_size.load(std::memory_order_relaxed); }
void set_default_buffer_size(std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::set_default_buffer_size: at least 16 bytes");
    detail::default_size.store(n, std::memory_order_relaxed);
}

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

std::pair<input_channel, output_channel> of_socket(unix_::file_descr fd, std::size_t size) {
    if (!fd.is_open()) throw std::invalid_argument("lwt::io::of_socket: closed descriptor");
    return detail::socket_channels(std::move(fd), size);
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

// The standard channels of a thread. What stdout_ and stderr_ still hold when the set dies
// is written out synchronously (its loop may be gone by then).
struct standard_set {
    input_channel in{detail::standard(true, 0)};
    output_channel out{detail::standard(false, 1)};
    output_channel err{detail::standard(false, 2)};
    standard_set() = default;
    standard_set(const standard_set&) = delete;
    standard_set& operator=(const standard_set&) = delete;
    ~standard_set() {
        for (const output_channel* oc : {&out, &err}) {
            io_channel& c = oc->impl();
            std::size_t off = 0;
            while (off < c.ptr) {
                ssize_t n = ::write(c.fd, c.base + off, c.ptr - off);
                if (n <= 0) break;
                off += static_cast<std::size_t>(n);
            }
            c.ptr = 0;
        }
    }
};

// The main thread's set is a static object, as the standard channels always were: it
// outlives everything of the thread, main::at_exit hooks included (they run while its
// thread-local objects are destroyed). Every other thread -- the other loops of
// loops::run -- gets its own, destroyed when the thread ends (after its loop has).
standard_set main_thread_set;
const standard_set& this_thread_set() {
    if (::gettid() == ::getpid()) return main_thread_set;
    static thread_local standard_set set;
    return set;
}

}  // namespace

// One set per loop (per thread): a channel belongs to the loop that made it. What several
// loops write interleaves, each loop's data in its own order.
thread_local const input_channel& stdin_ = this_thread_set().in;
thread_local const output_channel& stdout_ = this_thread_set().out;
thread_local const output_channel& stderr_ = this_thread_set().err;

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

promise<void> resize_buffer(const input_channel& ic, std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::resize_buffer: at least 16 bytes");
    return detail::resize_impl(ic.shared(), n);
}
promise<void> resize_buffer(const output_channel& oc, std::size_t n) {
    if (n < 16) throw std::invalid_argument("lwt::io::resize_buffer: at least 16 bytes");
    return detail::resize_impl(oc.shared(), n);
}

// ---------------------------------------------------------------------------------------
// Closing.

// Lwt: an input channel is closed at once, like abort (nothing to flush).
promise<void> close(const input_channel& ic) { return detail::close_channel(ic.shared(), false); }
promise<void> close(const output_channel& oc) { return detail::close_channel(oc.shared(), true); }
promise<void> abort(const input_channel& ic) { return detail::close_channel(ic.shared(), false); }
promise<void> abort(const output_channel& oc) { return detail::close_channel(oc.shared(), false); }
bool is_closed(const input_channel& ic) noexcept { return ic.impl().closed; }
bool is_closed(const output_channel& oc) noexcept { return oc.impl().closed; }

}  // namespace lwt::io
