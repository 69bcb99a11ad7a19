// Receiving into the loop's buffers: unix_::recv_chunk and unix_::chunk.
//
// `recv(fd, buf, len)` needs a buffer from the caller for as long as it waits -- for an idle
// connection, forever. `recv_chunk(fd)` needs none: the bytes land in a buffer of the loop's
// pool, taken only when they arrive (io_uring: a multishot recv from a provided buffer ring;
// epoll: a buffer taken once the socket is readable), and come back as a `chunk` that
// borrows that buffer until it is released -- no copy on the way.
//
//     for (;;) {
//         lwt::unix_::chunk c = co_await lwt::unix_::recv_chunk(conn);
//         if (c.empty()) break;                        // the end of the stream
//         co_await send_all(conn, c.data(), c.size());  // c's buffer goes back after this
//     }
//
// Order: chunks of one socket come in the order of the stream, whatever the interleaving of
// waits, cancellations and an empty pool. Cancelling a recv_chunk loses no byte: what the
// kernel received for it is given to the next one. Errors are unix_error("recv", fd).
//
// The pool is bounded (LWT_RECV_BUFFERS buffers of LWT_RECV_BUFFER_SIZE bytes per loop,
// default 4096 of 16 KiB, made as needed); when all are lent, a recv_chunk waits for one to
// come back -- so a program that keeps every chunk it gets stops receiving, it does not grow.
// Release chunks you are done with; keep one only as long as you need its bytes. Where the
// kernel fills buffers a receive at a time (engine::receive_buffers_shared), chunks of many
// sockets share a buffer, which comes back once all of them are released.
//
// A chunk belongs to the loop that received it (rule 13): release it on that loop's thread.
// It may outlive the loop's engine (the pool then lives until its last chunk is released).
#pragma once

#include <lwt/detail/buffer_pool.hpp>
#include <lwt/unix/fd.hpp>
#include <lwt/unix/operation.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

namespace lwt::unix_ {

// Bytes received into a buffer the loop lends; move-only. An empty chunk: the end of the
// stream (or a moved-from or released one).
class chunk {
public:
    chunk() noexcept = default;
    chunk(chunk&& o) noexcept : pool_(o.pool_), data_(o.data_), size_(o.size_), id_(o.id_) { o.pool_ = nullptr, o.size_ = 0; }
    chunk& operator=(chunk&& o) noexcept {
        if (this != &o) {
            release();
            pool_ = std::exchange(o.pool_, nullptr);
            data_ = o.data_;
            size_ = std::exchange(o.size_, 0);
            id_ = o.id_;
        }
        return *this;
    }
    chunk(const chunk&) = delete;
    chunk& operator=(const chunk&) = delete;
    ~chunk() { release(); }

    char* data() noexcept { return data_; }
    const char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    std::string_view view() const noexcept { return {data_, size_}; }
    // Drops the first n bytes (n <= size()); the buffer stays lent until release.
    void remove_prefix(std::size_t n) noexcept {
        data_ += n;
        size_ -= n;
    }
    // Whether it holds one of the loop's buffers (an empty chunk may, after remove_prefix).
    bool holds_buffer() const noexcept { return pool_ != nullptr; }
    // Gives the buffer back to the loop now (on its thread); the chunk is empty afterwards.
    void release() noexcept {
        if (pool_ != nullptr) std::exchange(pool_, nullptr)->give_back(id_);
        size_ = 0;
    }

    // (The library's: `size` bytes at `offset` in a buffer the pool lent.)
    chunk(detail::buffer_pool* pool, std::uint16_t id, std::size_t offset, std::size_t size) noexcept
        : pool_(pool), data_(pool->data(id) + offset), size_(size), id_(id) {}

private:
    detail::buffer_pool* pool_ = nullptr;
    char* data_ = nullptr;
    std::size_t size_ = 0;
    std::uint16_t id_ = 0;
};

}  // namespace lwt::unix_

namespace lwt::detail {
// recv_chunk's result: the byte count in res, the buffer in cqe_flags (buffer_pool.hpp).
struct chunk_kind {
    using value_type = unix_::chunk;
    // A chunk holds a buffer: given once; one nobody took is released (not closed: see release).
    static constexpr bool owns_result = true;
    struct extra {
        void point(io_op&) noexcept {}
    };
    LWT_EXPORT static unix_::chunk value(const io_op& op, const extra&) noexcept;
    // The buffer of a result nobody took goes back.
    LWT_EXPORT static void release(const io_op& op) noexcept;
};
}  // namespace lwt::detail

namespace lwt::unix_ {

using chunk_op = operation<detail::chunk_kind>;
extern template class LWT_EXPORT operation<detail::chunk_kind>;

// Receives what the socket has (at most one buffer's worth) into a buffer of the loop's pool.
LWT_EXPORT chunk_op recv_chunk(const file_descr& fd);

}  // namespace lwt::unix_
