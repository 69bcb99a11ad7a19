// What the rooms of lwt::io share (private to the library): the channel itself, its lock,
// refilling and flushing its buffer.
//
// Reading guide. An `io_channel` is a buffer plus the function that fills it (input) or
// drains it (output). Input data waits in base[ptr, max); output data in base[0, ptr). Every
// public operation first takes the channel's FIFO lock -- unless the handle belongs to the
// atomic() group holding it -- so operations never interleave. The common cases (a line
// already buffered, a write that fits) complete synchronously without a coroutine frame when
// the channel is free. An output channel that receives data schedules a flush for the next
// loop iteration (auto-flush); the buffer filling up flushes at once.
//
// Where things are: channel.cpp makes channels (over descriptors, sockets, functions; the
// standard ones), flushes and auto-flushes them, closes them and runs atomic groups' locking;
// read.cpp and write.cpp hold the operations with their synchronous fast paths; number.cpp,
// file.cpp, connection.cpp and server.cpp build on the public calls (the last two on
// socket_channels too).
//
// Lifetimes. Handles share the channel (std::shared_ptr); each operation's coroutine holds its
// own reference, so a channel outlives the operations running on it even when every handle
// is dropped. Only the registry of output channels (for flush_all) holds weak references.
//
// Buffers belong to data, not to channels (issue 15). A channel holds a buffer only while it
// has bytes in it: `base` is null otherwise. An output channel takes one (from this loop's
// cache of channel buffers, or the heap) when data is written into it and gives it back when
// a flush leaves it empty. A socket's input channel waits for bytes with unix_::recv_chunk,
// which needs no buffer: the bytes arrive in a buffer of the loop's receive pool, and the
// channel reads them from that chunk (no copy) until it is empty, then gives it back. Other
// input channels (files, pipes, make) read into a buffer of their own, taken at the first read.
#pragma once

#include <lwt/bind.hpp>
#include <lwt/io/channel.hpp>
#include <lwt/mutex.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/chunk.hpp>
#include <lwt/unix/fd.hpp>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace lwt::detail {

struct io_channel {
    bool input = true;
    // The buffer: input data waits in base[ptr, max), output data in base[0, ptr). Null
    // when empty (see "Buffers belong to data" above). `owned`: base is a buffer of `size`
    // bytes of the channel's own; else it points into `borrowed` (a socket input channel).
    char* base = nullptr;
    bool owned = false;
    unix_::chunk borrowed;
    std::size_t size = 0;  // the buffer size (a borrowed chunk may hold more: the pool's size)
    std::size_t ptr = 0, max = 0;
    int recv_fd = -1;  // a socket's input channel: it refills with recv_chunk(recv_fd)
    std::size_t line_limit = 0;  // read_line's default limit (0: none)
    bool closed = false;
    io::read_fn rd;
    io::write_fn wr;
    io::close_fn cl;
    std::optional<promise<void>> closing;  // the first close's outcome
    lwt::mutex lk;
    std::uint64_t holder = 0;      // the atomic() group holding the lock, if any
    bool flush_scheduled = false;  // an auto_flush is due (cleared when it runs)
    int fd = -1;                   // when over a descriptor (for the standard channels' last flush)
    // The call of rd or wr (or the recv_chunk) that the operation holding the channel is
    // waiting for: abort() cancels it. Set only while that operation is suspended on it.
    std::optional<promise<std::size_t>> io;
    unix_::chunk_op* receiving = nullptr;
    // The receive a frame-free when_input() waits on (while it holds the lock): abort()
    // cancels it. The engine keeps the cell alive until the receive ends.
    cell_base* arriving = nullptr;

    io_channel() = default;
    io_channel(const io_channel&) = delete;
    io_channel& operator=(const io_channel&) = delete;
    ~io_channel();
};

// The channel's buffer, taken now if it has none: an owned one of c.size bytes (from this
// loop's cache when c.size is the default size). Throws std::bad_alloc.
char* own_buffer(io_channel& c);
// Gives the buffer back (to the cache, the heap or the receive pool); the channel must hold
// no data in it. No buffer afterwards.
void drop_buffer(io_channel& c) noexcept;

// Both directions over a connected socket, sharing it: the second close closes it. `borrow`:
// the input channel reads from the loop's receive buffers (recv_chunk).
std::pair<io::input_channel, io::output_channel> socket_channels(unix_::file_descr fd, std::size_t size,
                                                                 bool borrow = true);

// Both directions over a socket that the caller owns and closes (a request server's
// connection, io::establish_request_server): closing the output channel half-closes it,
// closing the input channel does nothing to it.
std::pair<io::input_channel, io::output_channel> socket_view_channels(int fd, std::size_t size, bool borrow);
// Both open, free, with no input left and no output buffered: a request server's connection
// may let go of them between requests (an auto-flush still due ends at once).
bool idle_pair(const io::input_channel& ic, const io::output_channel& oc) noexcept;
// Puts a received chunk into a socket input channel that holds no buffer (ptr == max == 0),
// as its buffer: what a refill does with the chunk it received. An empty chunk (the end of
// the stream) leaves it empty.
void give_chunk(io_channel& c, unix_::chunk got) noexcept;

// The output channels alive and open now (flush_all).
std::vector<std::shared_ptr<io_channel>> open_output_channels();

// ---- the lock ----

// Takes the channel's lock unless `group` holds it; gives whether it was taken.
inline promise<bool> enter_channel(io_channel& c, std::uint64_t group) {
    if (group != 0 && group == c.holder) return lwt::return_(false);
    if (!c.lk.is_locked()) {
        c.lk.lock();  // free: taken at once
        return lwt::return_(true);
    }
    return lwt::map([] { return true; }, c.lk.lock());
}

void start_auto_flush(const std::shared_ptr<io_channel>& c);

// Flushes an output channel at the next loop iteration unless one is already due (or there is
// nothing to flush).
inline void schedule_flush(const std::shared_ptr<io_channel>& c) {
    if (c->flush_scheduled || c->ptr == 0 || c->closed) return;
    start_auto_flush(c);
}

// Releases the channel after an operation. An output channel left idle with buffered data
// gets an auto-flush: one that found the channel busy gave way (see auto_flush).
// An input channel whose data is all read gives its buffer back.
inline void release_channel(const std::shared_ptr<io_channel>& c) {
    if (c->input && c->ptr == c->max) drop_buffer(*c);
    c->lk.unlock();
    if (!c->input && !c->lk.is_locked()) schedule_flush(c);
}

// Held by an operation for its whole run: releases the lock if enter_channel took it.
struct channel_guard {
    const std::shared_ptr<io_channel>& c;
    bool locked;
    ~channel_guard() {
        if (locked) release_channel(c);
    }
};

inline void check_open(const io_channel& c) {
    if (c.closed) throw io::channel_closed();
}

// The channel is free (no operation, no group) and open: a synchronous fast path may run.
inline bool free_and_open(const io_channel& c) noexcept { return !c.closed && !c.lk.is_locked(); }

// ---- transfers ----

// co_await of a call of the channel's rd or wr by the operation holding the channel. While
// it waits, abort() can reach the call (c.io); the operation then fails with channel_closed,
// as in Lwt, whatever the cancelled call reported. `fill`: the call read into the buffer's
// free end (c.max grows by the count).
struct channel_io {
    using lwt_native_awaiter = void;
    io_channel& c;
    promise<std::size_t> p;
    coro_awaiter<std::size_t, take::copy> inner;
    bool fill = false;

    channel_io(io_channel& c_, promise<std::size_t> p_, bool fill_ = false)
        : c(c_), p(std::move(p_)), inner(state_of(p)), fill(fill_) {}
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
        if (LWT_UNLIKELY(p.state() == lwt::state::rejected) && c.closed) throw io::channel_closed();
        std::size_t n = inner.await_resume();
        if (fill) c.max += n;
        return n;
    }
};

// co_await of a socket input channel's recv_chunk: the chunk becomes the channel's buffer.
// As channel_io, an abort() reaches it (c.receiving) and the operation then fails with
// channel_closed. Constructed in place (the operation never moves).
struct chunk_io {
    io_channel& c;
    unix_::chunk_op op;
    unix_::chunk_op::awaiter inner;

    explicit chunk_io(io_channel& c_) : c(c_), op(recv_chunk_of(c_.recv_fd)), inner(op) {}
    bool await_ready() const noexcept { return inner.await_ready(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        if (LWT_UNLIKELY(c.closed)) op.cancel();  // aborted while the operation ran: no wait
        c.receiving = &op;
        if (inner.await_suspend(h)) return true;
        c.receiving = nullptr;
        return false;
    }
    std::size_t await_resume();

    static unix_::chunk_op recv_chunk_of(int fd);
};

// Reads more into the empty buffer (every reader consumes what is buffered before it asks
// for more); 0 at the end of file. A socket's input channel borrows (chunk_io); the others
// read into their own buffer (channel_io).
struct refill_io {
    std::optional<channel_io> plain;
    std::optional<chunk_io> borrowed;

    explicit refill_io(io_channel& c) {
        c.ptr = c.max = 0;
        if (c.recv_fd >= 0) {
            drop_buffer(c);  // (the chunk just read)
            borrowed.emplace(c);
        } else {
            char* b = own_buffer(c);
            plain.emplace(c, c.rd(b, c.size), true);
        }
    }
    bool await_ready() const noexcept { return plain ? plain->await_ready() : borrowed->await_ready(); }
    template <class P>
    bool await_suspend(std::coroutine_handle<P> h) {
        return plain ? plain->await_suspend(h) : borrowed->await_suspend(h);
    }
    std::size_t await_resume() { return plain ? plain->await_resume() : borrowed->await_resume(); }

    // What co_await uses: a handle by value (refill_io must not move: the operation in it).
    struct handle {
        using lwt_native_awaiter = void;
        refill_io& r;
        bool await_ready() const noexcept { return r.await_ready(); }
        template <class P>
        bool await_suspend(std::coroutine_handle<P> h) {
            return r.await_suspend(h);
        }
        std::size_t await_resume() { return r.await_resume(); }
    };
    handle lwt_awaiter() & noexcept { return {*this}; }
    handle lwt_awaiter() && noexcept { return {*this}; }
};
inline refill_io refill(io_channel& c) { return refill_io(c); }

// ---- waiting for input without a frame ----

// Calls f(n, nullptr) once the input channel c has n bytes buffered (0: the end of the
// stream), without consuming them, or f(0, error) when the wait fails as a read would
// (channel_closed once closed or aborted). A channel already holding bytes answers at once.
// For a free, empty socket input channel that borrows (recv_fd), what waits is a receive and
// this callback -- no coroutine frame, no buffer: how a request server's idle connection
// holds neither (io::establish_request_server). The wait holds the channel's lock, as a
// read does. Other channels wait in a coroutine (fill_waiting).
promise<std::size_t> fill_waiting(std::shared_ptr<io_channel> c);
promise<unix_::chunk> start_arrival(io_channel& c);  // takes the lock; sets c.arriving
// The receive has ended: installs its chunk, releases the channel; gives the count or error.
std::size_t finish_arrival(const std::shared_ptr<io_channel>& c, unix_::chunk got, std::exception_ptr failed,
                           std::exception_ptr& error) noexcept;

// Calls f(chunk, nullptr) once the receive `got` has its chunk, or f(empty chunk, error) if
// it failed; no coroutine frame. `got` must be the result's only handle: the chunk (which
// owns a loop buffer) moves out of the settled cell to f.
template <class F>
void when_received(promise<unix_::chunk> got, F&& f) {
    when_settled(state_of(got), [f = std::forward<F>(f)](const cell<unix_::chunk>& s) mutable {
        if (s.st == lwt::state::rejected)
            f(unix_::chunk(), s.exc);
        else
            f(std::move(const_cast<cell<unix_::chunk>&>(s).value), std::exception_ptr());
    });
}

template <class F>
void when_input(const std::shared_ptr<io_channel>& c, F&& f) {
    if (c->closed) {
        f(std::size_t{0}, std::make_exception_ptr(io::channel_closed()));
        return;
    }
    if (c->ptr < c->max) {
        f(c->max - c->ptr, std::exception_ptr());
        return;
    }
    if (c->recv_fd < 0 || c->lk.is_locked()) {
        when_settled(state_of(fill_waiting(c)), [f = std::forward<F>(f)](const cell<std::size_t>& s) mutable {
            if (s.st == lwt::state::rejected)
                f(std::size_t{0}, s.exc);
            else
                f(static_cast<std::size_t>(s.value), std::exception_ptr());
        });
        return;
    }
    when_received(start_arrival(*c), [c, f = std::forward<F>(f)](unix_::chunk got, std::exception_ptr failed) mutable {
        std::exception_ptr error;
        const std::size_t n = finish_arrival(c, std::move(got), std::move(failed), error);
        f(n, std::move(error));
    });
}

// Writes out base[0, ptr) with the channel held, then gives the buffer back; on failure what
// was written is dropped from the buffer and the rest stays.
promise<void> flush_locked(std::shared_ptr<io_channel> c);
// flush(): takes the channel (unless `group` holds it), then flush_locked.
promise<void> flush_impl(std::shared_ptr<io_channel> c, std::uint64_t group);

}  // namespace lwt::detail
