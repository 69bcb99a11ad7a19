// The io_uring proactor (private to the library: users reach it through lwt::engine).
// See the reading guide in engine.hpp.
#pragma once

#include <lwt/detail/engine.hpp>

#include <liburing.h>

#include <bitset>
#include <memory>
#include <string>
#include <vector>

namespace lwt::detail {

class uring_engine final : public engine {
public:
    // The engine, or null with the reason in `why` when io_uring cannot be set up (disabled
    // by sysctl, refused by a seccomp filter, missing from an old kernel).
    static std::unique_ptr<engine> create(std::string& why);
    ~uring_engine() override;

    const char* id() const noexcept override { return "uring"; }
    bool wants_nonblocking() const noexcept override { return false; }
    bool try_now(io_op& op) noexcept override;
    void submit(io_op& op) noexcept override;
    void cancel(io_op& op) noexcept override;
    void forget_fd(int fd) noexcept override;

protected:
    void wait(std::int64_t timeout_ns) override;
    void wake() noexcept override;
    void cancel_all() noexcept override;

private:
    struct cqe_copy {
        std::uint64_t data;
        std::int32_t res;
        std::uint32_t flags;
    };

    uring_engine() = default;
    io_uring_sqe* get_sqe() noexcept;
    void prep(io_uring_sqe* sqe, io_op& op) noexcept;
    void arm_wake() noexcept;
    void reap() noexcept;                       // moves the ready CQEs to backlog_
    void dispatch(const cqe_copy& c) noexcept;  // one completion
    bool take_from_backlog(std::uint64_t data, cqe_copy& out) noexcept;
    void link(io_op& op) noexcept;
    void unlink(io_op& op) noexcept;
    void cancel_by_data(std::uint64_t data) noexcept;

    io_uring ring_{};
    bool ring_ok_ = false;
    bool sync_cancel_ = false;      // IORING_REGISTER_SYNC_CANCEL (6.0)
    bool tearing_down_ = false;
    std::bitset<static_cast<std::size_t>(io_kind::count_)> native_;  // kinds the kernel has
    io_op wake_op_;                 // a POLL_ADD on the eventfd, re-armed after each wake-up
    io_op* pending_ = nullptr;      // every operation in flight (teardown, forget_fd)
    std::vector<cqe_copy> backlog_; // reaped, not yet dispatched
    std::size_t backlog_pos_ = 0;
};

}  // namespace lwt::detail
