// recv_chunk: a receive into the loop's buffers (include/lwt/unix/chunk.hpp).
#include "operation_impl.hpp"

#include <lwt/detail/engine.hpp>
#include <lwt/unix/chunk.hpp>

namespace lwt::detail {

unix_::chunk chunk_kind::value(const io_op& op, const extra&) noexcept {
    if (!(op.cqe_flags & cqe_f_buffer)) return {};  // (0 bytes: the end of the stream)
    // (op.off: where the bytes start in a buffer the kernel fills a receive at a time)
    return {&io_engine::current().buffers(), buffer_id(op.cqe_flags),
            static_cast<std::size_t>(op.off), static_cast<std::size_t>(op.res)};
}

void chunk_kind::release(const io_op& op) noexcept {
    if (op.cqe_flags & cqe_f_buffer) io_engine::current().buffers().give_back(buffer_id(op.cqe_flags));
}

}  // namespace lwt::detail

namespace lwt::unix_ {

template class operation<detail::chunk_kind>;

chunk_op recv_chunk(const file_descr& fd) {
    return chunk_op({.kind = detail::io_kind::recv_chunk,
                     .fd = fd.fd(),
                     .len = detail::io_engine::current().buffers().buffer_size(),
                     .call = "recv"});
}

}  // namespace lwt::unix_
