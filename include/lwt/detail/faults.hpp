// Fault injection, for tests: a kernel that misbehaves the way a real one may, on either
// engine. Off unless asked for; then each engine holds a fault_injector and consults it
// where an operation meets the kernel (see docs/architecture.md, "Fault injection").
//
// Transparent faults, which a correct runtime absorbs (the program sees the same bytes and
// the same outcomes), are switched on for a whole process by the environment, read once
// per engine:
//     LWT_FAULTS=short,eintr,eagain,sq=2,cq=8,seed=7,report
//   short    byte transfers (read, write, recv, send, readv, writev) move at most one byte:
//            the length is clamped before the kernel sees the request, never a result
//            rewritten after bytes moved;
//   eintr    now and then an operation completes with EINTR without being performed;
//   eagain   now and then one that waits for readiness completes with EAGAIN unperformed;
//   sq=N     io_uring: a submission queue of N entries, cq=N a completion queue of N (a
//            small one overflows: the kernel keeps what does not fit, the engine flushes it);
//   seed=N   the pseudo-random sequence (deterministic per thread);
//   report   at the engine's teardown, what was injected, on stderr.
// Targeted errors (ECONNRESET, EPIPE, ENOBUFS...) are asked for by a test, on this thread's
// engine: fail_next(kind, errno) makes the next operation of that kind fail so.
#pragma once

#include <lwt/detail/io_op.hpp>

#include <cstdint>
#include <deque>

struct iovec;

namespace lwt::detail {

struct fault_config {
    bool short_io = false;
    bool eintr = false;
    bool eagain = false;
    bool report = false;
    unsigned sq = 0;  // io_uring queue sizes; 0: the engine's own
    unsigned cq = 0;
    std::uint64_t seed = 0x9e3779b97f4a7c15u;

    bool any() const noexcept { return short_io || eintr || eagain || report || sq != 0 || cq != 0; }
    // LWT_FAULTS, parsed (an unknown word is reported on stderr and ignored).
    static fault_config from_env();
};

// One engine's faults. The engine holds it by pointer, null when nothing is injected: the
// data path pays one test of that pointer.
class LWT_EXPORT fault_injector {
public:
    explicit fault_injector(const fault_config& c) noexcept;
    const fault_config& config() const noexcept { return cfg_; }

    // What `op` gets instead of being performed: a targeted error, or (where `may_eagain`:
    // the engine retries it when its descriptor is ready) a spurious EINTR or EAGAIN, as
    // -errno; 0: perform it.
    std::int32_t instead_of(const io_op& op, bool may_eagain) noexcept;
    // Whether a targeted error waits for the next operation of this kind.
    bool targets(io_kind k) const noexcept { return armed_[static_cast<std::size_t>(k)].count != 0; }
    // With `short`, the request's byte count for the kernel: 1 where the kind transfers bytes
    // of one buffer (`len` otherwise).
    std::uint32_t short_len(const io_op& op) noexcept;
    // With `short`, a one-byte vector in place of op's iovec array (readv, writev), kept at
    // `key` until the operation completes (io_uring: its slot); null: leave the request.
    iovec* short_iovec(const io_op& op, std::uint32_t key);

    // Checks that `op` settles once: it must still be in flight. (Aborts otherwise.)
    void settling(const io_op& op) noexcept;
    // At the engine's teardown: every operation started has settled (aborts otherwise), and
    // with `report` the figures go to stderr.
    void at_teardown(const char* engine, std::size_t live_ops) noexcept;

    void fail_next(io_kind k, int err, unsigned count) noexcept;

private:
    bool roll(unsigned one_in) noexcept;

    struct target {
        int err = 0;
        unsigned count = 0;
    };
    fault_config cfg_;
    std::uint64_t rng_;
    target armed_[static_cast<std::size_t>(io_kind::count_)];
    std::deque<iovec> shadows_;  // short_iovec's vectors (a deque: they never move)
    // Figures for `report`.
    std::uint64_t settled_ = 0, shortened_ = 0, eintrs_ = 0, eagains_ = 0, targeted_ = 0;
};

}  // namespace lwt::detail

namespace lwt::detail::faults {

// The next `count` operations of kind `k` started on this thread's engine complete with
// -err without being performed (not even tried). EINTR and EAGAIN are what the kernel says
// of an interrupted or not-ready call: the engine retries them, as a real one must. For tests.
LWT_EXPORT void fail_next(io_kind k, int err, unsigned count = 1);

}  // namespace lwt::detail::faults
