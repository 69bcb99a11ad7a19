// The epoll reactor (private to the library), used where io_uring cannot be set up or with
// LWT_ENGINE=epoll. See the reading guide in engine.hpp.
//
// An operation is first attempted at once without blocking (sockets are switched to
// O_NONBLOCK; a blocking pipe or tty is only read or written once poll(2) says it is ready,
// and then at most one page at a time); if it would block it is parked, FIFO, on its fd's
// reader or writer list, and retried when epoll reports the fd ready (edge-triggered,
// registered once per fd; a per-direction "drained" hint skips attempts that would only
// return EAGAIN). Operations that are not about readiness are performed at once (reads and
// writes of regular files, close) -- except the calls that may wait for a disk (path
// lookups, fsync: io_kind_traits::may_block_on_disk), made on the worker pool (an open or a
// stat whose lookup needs no I/O is made here first: attempt_cached) by a
// `disk_job` that owns copies of the paths, a duplicate of the descriptor and its own statx
// buffer, so that a cancelled operation completes at once and the job's late result harms
// nothing (a descriptor it opened is closed); without memory or a descriptor for the job,
// the call is made on the loop and completes at the next iteration. Cancelling a parked
// operation unparks it. A
// readiness wait (io_kind::poll, unix_::wait_read) may be on a descriptor lwt++ does not own:
// it is attempted with poll(2), without the fd's entry (which would make a socket
// non-blocking), and registers the fd again when it parks (its owner may have closed it and
// opened another file under its number: see submit).
// A recv_chunk takes a buffer of the loop's pool only for its attempt (given back on
// EAGAIN); when the pool is at its bound it parks as if the fd were drained, and its fd is
// served again once a buffer comes back (`starved_`).
#pragma once

#include <lwt/detail/engine.hpp>

#include <vector>

namespace lwt::detail {

class epoll_engine final : public io_engine {
public:
    epoll_engine();
    ~epoll_engine() override;

    const char* id() const noexcept override { return "epoll"; }
    bool wants_nonblocking() const noexcept override { return true; }
    bool start(io_op& op) noexcept override {
        if (try_now(op)) return true;
        submit(op);
        return false;
    }
    void cancel(io_op& op) noexcept override;
    bool relocate(io_op& from, io_op& to) noexcept override;
    void forget_fd(int fd) noexcept override;

protected:
    void wait(std::int64_t timeout_ns) override;
    void wake() noexcept override;
    void cancel_all() noexcept override;
    void adopt_pool(buffer_pool& pool) override;

private:
    bool try_now(io_op& op) noexcept;  // a non-blocking attempt (a disk's call: none)
    void submit(io_op& op) noexcept;   // parks it on its fd, or hands it to the worker pool
    enum class fd_type : std::uint8_t { unknown, socket, stream, file };
    struct fd_entry {
        op_queue readers, writers;
        fd_type type = fd_type::unknown;
        bool nonblocking = false;
        bool registered = false;
        // The last attempt in that direction (0: reading, 1: writing) found the fd drained
        // (EAGAIN, or a short transfer on a stream socket): until epoll reports an edge, a
        // new operation parks without trying -- one system call saved per message.
        bool drained[2] = {false, false};
    };
    void note_result(fd_entry& e, const io_op& op, int dir, std::int32_t r) noexcept;

    fd_entry& slot(int fd);   // fds_[fd], grown to hold it
    fd_entry& entry(int fd);  // slot(fd), its type found (and a socket made O_NONBLOCK) once
    static void renew(fd_entry& e) noexcept;  // its number names another file now
    static op_queue& queue_of(fd_entry& e, const io_op& op) noexcept;  // where op parks
    std::int32_t attempt(io_op& op, const fd_entry& e, bool known_ready) noexcept;
    std::int32_t attempt_once(io_op& op, const fd_entry& e, bool known_ready) noexcept;
    std::int32_t attempt_faulty(io_op& op, const fd_entry& e, bool known_ready) noexcept;
    std::int32_t perform(io_op& op) noexcept;
    void serve_spurious() noexcept;
    void serve(int fd, std::uint32_t events) noexcept;
    void serve_list(int fd, bool writers, std::uint32_t events, bool polls_only) noexcept;
    struct disk_job;
    bool offload(io_op& op) noexcept;  // false: no memory or no descriptor for the job
    disk_job* job_of(const io_op& op) const noexcept;
    void finish_performed() noexcept;
    std::int32_t attempt_cached(io_op& op) noexcept;
    void recycle(disk_job* j) noexcept;

    int epfd_ = -1;
    bool pwait2_ = true;  // epoll_pwait2 (5.11), else epoll_wait with milliseconds
    std::vector<fd_entry> fds_;
    std::vector<int> ready_;  // fds epoll refuses (always ready): served next iteration
    std::vector<int> spurious_;
    std::vector<int> starved_;  // fds whose recv_chunk found the pool empty
    std::vector<disk_job*> disk_jobs_;  // on the worker pool (an op of theirs may be gone)
    std::vector<disk_job*> free_jobs_;  // done, kept for reuse
    bool cached_lookups_ = true;
    std::uint64_t submitted_ = 0;  // operations parked or sent to the worker pool since the last wait  // openat2 with RESOLVE_CACHED works (found out at the first refusal)
    op_queue performed_;  // disk calls made on the loop (no job could be made): done next iteration
    // Counts serve() calls; a parked op's tag is the count when it parked, so that a serve
    // tells the polls parked during it (by the completions it ran) from those it serves.
    std::uint32_t serving_ = 0;  // fds whose attempt the fault injector said EAGAIN of
};

}  // namespace lwt::detail
