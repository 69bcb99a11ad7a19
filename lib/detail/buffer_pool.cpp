// A loop's receive buffers. See include/lwt/detail/buffer_pool.hpp.
#include <lwt/detail/buffer_pool.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace lwt::detail {

buffer_pool::buffer_pool(std::uint32_t buffer_size, std::uint32_t slab_buffers, std::uint32_t max_buffers)
    : size_(buffer_size) {
    if (buffer_size == 0 || slab_buffers == 0 || max_buffers == 0)
        throw std::invalid_argument("lwt: a buffer pool needs buffers of some size");
    // (A pool smaller than a slab is one slab of its size: LWT_RECV_BUFFERS=2 means two.)
    slab_buffers = std::bit_ceil(std::min({slab_buffers, max_buffers, id_limit}));
    slab_shift_ = static_cast<std::uint32_t>(std::countr_zero(slab_buffers));
    slab_mask_ = slab_buffers - 1;
    // Whole slabs, within the 16-bit ids.
    max_ = std::min(std::max(max_buffers, slab_buffers), id_limit) & ~slab_mask_;
    slabs_.reserve(max_ >> slab_shift_);
    free_.reserve(max_);  // give_back never allocates
    holds_.reserve(max_);  // (nor does grow)
}

buffer_pool::~buffer_pool() {
    const std::size_t slab_bytes = static_cast<std::size_t>(size_) << slab_shift_;
    for (char* s : slabs_) ::munmap(s, slab_bytes);
}

bool buffer_pool::grow() noexcept {
    if (count_ >= max_) return false;
    const std::size_t slab_bytes = static_cast<std::size_t>(size_) << slab_shift_;
    // Anonymous memory: a page is backed only once the kernel (or a caller) writes to it.
    void* m = ::mmap(nullptr, slab_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return false;
    slabs_.push_back(static_cast<char*>(m));  // (reserved)
    const std::uint32_t first = count_;
    count_ += slab_mask_ + 1;
    holds_.resize(count_, 0);  // (within the reserve)
    // Handed out lowest id first from the free list (a LIFO: the last given back, warm in
    // the cache, is the next taken).
    for (std::uint32_t id = count_; id-- > first;) {
        if (provide_ != nullptr)
            provide_(provide_ctx_, static_cast<std::uint16_t>(id));
        else
            free_.push_back(static_cast<std::uint16_t>(id));
    }
    return true;
}

int buffer_pool::take() noexcept {
    if (LWT_UNLIKELY(free_.empty()) && !grow()) return -1;
    const std::uint16_t id = free_.back();
    free_.pop_back();
    lend(id);
    return id;
}

void buffer_pool::lend_to_ring(void* ctx, void (*provide)(void*, std::uint16_t)) noexcept {
    provide_ctx_ = ctx;
    provide_ = provide;
    for (std::uint16_t id : free_) provide_(provide_ctx_, id);
    free_.clear();
}

void buffer_pool::retire(buffer_pool* p) noexcept {
    if (p == nullptr) return;
    if (p->outstanding_ == 0) {
        delete p;
        return;
    }
    p->retired_ = true;
    p->provide_ = nullptr;
    p->refilled_ = nullptr;
}

}  // namespace lwt::detail
