// The epoll reactor. See the overview in include/lwt/detail/epoll_engine.hpp.
#include <lwt/detail/epoll_engine.hpp>
#include <lwt/preemptive.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <system_error>

namespace lwt::detail {

namespace {

constexpr std::size_t page = 4096;  // a blocking pipe or tty is written a page at a time

// Which readiness an operation waits for: readers (0) or writers (1); -1: not readiness.
int direction(const io_op& op) noexcept {
    switch (op.readiness()) {
        case io_readiness::input: return 0;
        case io_readiness::output: return 1;
        default: return -1;
    }
}

bool ready_now(int fd, short events) noexcept {
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, 0) > 0;
}

}  // namespace

epoll_engine::epoll_engine() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wake_fd_, &ev);
}

void epoll_engine::wake() noexcept { eventfd_write(wake_fd_, 1); }

op_queue& epoll_engine::queue_of(fd_entry& e, const io_op& op) noexcept {
    return direction(op) == 1 ? e.writers : e.readers;
}

epoll_engine::fd_entry& epoll_engine::slot(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= fds_.size()) fds_.resize(std::max(i + 1, fds_.size() * 2));
    return fds_[i];
}

epoll_engine::fd_entry& epoll_engine::entry(int fd) {
    fd_entry& e = slot(fd);
    if (e.type == fd_type::unknown) {
        struct stat st;
        if (::fstat(fd, &st) != 0) return e;  // a bad fd: the call itself will say EBADF
        if (S_ISSOCK(st.st_mode))
            e.type = fd_type::socket;
        else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))
            e.type = fd_type::stream;
        else
            e.type = fd_type::file;  // regular files, directories: never "not ready"
        int fl = ::fcntl(fd, F_GETFL);
        e.nonblocking = fl >= 0 && (fl & O_NONBLOCK);
        if (e.type == fd_type::socket && !e.nonblocking && fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
            e.nonblocking = true;  // sockets are ours to switch (Lwt does the same)
    }
    return e;
}

void epoll_engine::renew(fd_entry& e) noexcept {
    e.type = fd_type::unknown;
    e.nonblocking = false;
    e.drained[0] = e.drained[1] = false;
}

// Performs op without blocking; -EAGAIN when it would block. `known_ready`: epoll just said
// the fd is ready (a blocking stream may then be used once). An interrupted call is made
// again (an EINTR means it did nothing: see restartable).
std::int32_t epoll_engine::attempt(io_op& op, const fd_entry& e, bool known_ready) noexcept {
    for (;;) {
        std::int32_t r = LWT_UNLIKELY(faults_ != nullptr) ? attempt_faulty(op, e, known_ready)
                                                          : attempt_once(op, e, known_ready);
        if (LWT_UNLIKELY(r == -ENOBUFS) && op.kind == io_kind::recv_chunk) {
            // The pool is at its bound: wait (parked) for a buffer to come back.
            try {
                starved_.push_back(op.fd);
                ready_.reserve(ready_.size() + starved_.size());  // (the refill cannot allocate)
                buffers().starving = true;
                return -EAGAIN;
            } catch (...) {
                return r;  // (no memory to wait: the recv fails with ENOBUFS)
            }
        }
        if (LWT_LIKELY(r != -EINTR) || !restartable(op.kind)) return r;
    }
}

void epoll_engine::adopt_pool(buffer_pool& pool) {
    // A buffer came back to a pool that a recv_chunk found empty: its fd is served again
    // (next iteration; the fd may be drained by now, which the attempt will say).
    pool.on_refill(this, [](void* self) {
        auto& e = *static_cast<epoll_engine*>(self);
        e.buffers().starving = false;
        for (int fd : e.starved_) e.ready_.push_back(fd);  // (reserved when they starved)
        e.starved_.clear();
    });
}

// The attempt as the fault injector has it: not made (an error, EINTR, or EAGAIN -- after
// which the fd is looked at again next iteration, as an edge would have it), or made with a
// byte count clamped to 1 (in the request itself: note_result must see what was asked).
LWT_COLD std::int32_t epoll_engine::attempt_faulty(io_op& op, const fd_entry& e, bool known_ready) noexcept {
    const bool waits = op.kind != io_kind::poll && op.kind != io_kind::connect;
    if (std::int32_t r = faults_->instead_of(op, waits)) {
        if (r == -EAGAIN && waits) spurious_.push_back(op.fd);
        return r;
    }
    op.len = faults_->short_len(op);
    if (iovec* one = faults_->short_iovec(op, 0)) {
        io_op w = op;
        w.addr = one;
        w.len = 1;
        return attempt_once(w, e, known_ready);
    }
    return attempt_once(op, e, known_ready);
}

std::int32_t epoll_engine::attempt_once(io_op& op, const fd_entry& e, bool known_ready) noexcept {
    if (op.kind == io_kind::connect) {
        if (op.phase == io_phase::pending) {  // in progress: the outcome is in SO_ERROR
            int err = 0;
            socklen_t len = sizeof err;
            if (::getsockopt(op.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
            return err == 0 ? 0 : -err;
        }
        // (Interrupted, a connect goes on asynchronously, as one in progress.)
        std::int32_t r = perform_now(op);
        return r == -EINPROGRESS || r == -EINTR ? -EAGAIN : r;
    }
    if (op.kind == io_kind::poll) return perform_now(op);
    if (e.type == fd_type::file || e.type == fd_type::unknown) return perform_now(op);
    if (e.type == fd_type::stream && !e.nonblocking) {
        // A blocking pipe or tty: only once it is ready, and writes of at most a page so that
        // the call cannot block.
        bool out = direction(op) == 1;
        if (!known_ready && !ready_now(op.fd, out ? POLLOUT : POLLIN)) return -EAGAIN;
        if (!out) return perform_now(op);
        io_op w = op;
        if (op.kind == io_kind::writev) {
            auto* iov = static_cast<const iovec*>(op.addr);
            w.kind = io_kind::write;
            w.addr = op.len > 0 ? iov[0].iov_base : nullptr;
            w.len = op.len > 0 ? static_cast<std::uint32_t>(iov[0].iov_len) : 0;
        }
        w.len = static_cast<std::uint32_t>(std::min<std::size_t>(w.len, page));
        return perform_now(w);
    }
    if (e.type == fd_type::socket && !e.nonblocking) {
        // Could not be switched to O_NONBLOCK: per-call non-blocking where the call allows.
        io_op w = op;
        if (op.kind == io_kind::read) w.kind = io_kind::recv, w.flags = 0;
        if (op.kind == io_kind::write) w.kind = io_kind::send, w.flags = 0;
        if (w.kind == io_kind::recv || w.kind == io_kind::send || w.kind == io_kind::recvmsg ||
            w.kind == io_kind::sendmsg) {
            w.flags |= MSG_DONTWAIT;
            return perform_now(w);
        }
        if (!known_ready && !ready_now(op.fd, direction(op) == 1 ? POLLOUT : POLLIN)) return -EAGAIN;
        return perform_now(op);
    }
    std::int32_t r = perform_now(op);
    return r == -EWOULDBLOCK ? -EAGAIN : r;
}

void epoll_engine::note_result(fd_entry& e, const io_op& op, int dir, std::int32_t r) noexcept {
    if (!e.registered) return;  // no edges will come: the hint would never be cleared
    if (r == -EAGAIN) {
        e.drained[dir] = true;
    } else if (e.type == fd_type::socket && r >= 0 && static_cast<std::uint32_t>(r) < op.len &&
               op.traits().counts_len_bytes && !(r == 0 && dir == 0)) {
        // A stream socket that gave less than asked has nothing more right now; new data
        // (or room) will raise an edge.
        e.drained[dir] = true;
    }
}

// A call that is not about readiness, performed now (an interrupted one is made again).
std::int32_t epoll_engine::perform(io_op& op) noexcept {
    for (;;) {
        std::int32_t r = -EINTR;
        if (LWT_LIKELY(faults_ == nullptr) || (r = faults_->instead_of(op, false)) == 0) r = perform_now(op);
        if (LWT_LIKELY(r != -EINTR) || !restartable(op.kind)) return r;
    }
}

// ---------------------------------------------------------------------------------------
// Calls that may wait for a disk, on the worker pool. The job performs a request of its own
// (`req`), aimed at its copies: the op may be cancelled, moved (relocate re-aims `op`) or
// destroyed while the worker runs. Only the loop thread reads or writes `op`.

struct epoll_engine::disk_job final : worker_job {
    epoll_engine* engine;
    io_op* op;   // null once the op completed without us (cancelled, or the engine tears down)
    io_op req;   // what the worker performs
    std::string path, path2;
    struct statx stx {};
    int fd_dup = -1;  // the op's descriptor (a file, or a directory for *at), duplicated
    std::int32_t res = 0;

    explicit disk_job(epoll_engine* e) : engine(e), op(nullptr) {
        run = [](inbox_item* it) noexcept {
            auto* j = static_cast<disk_job*>(it);
            j->owner->jobs_outstanding.fetch_sub(1, std::memory_order_release);
            epoll_engine& en = *j->engine;
            auto& v = en.disk_jobs_;
            v.erase(std::find(v.begin(), v.end(), j));
            if (j->fd_dup >= 0) ::close(j->fd_dup);
            if (j->op != nullptr) {
                if (j->req.kind == io_kind::statx && j->res >= 0) std::memcpy(j->op->addr2, &j->stx, sizeof j->stx);
                en.finish(*j->op, j->res);
            } else if (j->req.kind == io_kind::openat && j->res >= 0) {
                ::close(j->res);  // opened for an operation that is gone
            }
            en.recycle(j);
        };
    }
    void work() noexcept override {
        do res = perform_now(req);
        while (res == -EINTR);
    }
};

// Jobs are kept for reuse (their strings keep their room): after the first calls, a disk
// call allocates nothing.
void epoll_engine::recycle(disk_job* j) noexcept {
    j->fd_dup = -1;
    if (free_jobs_.size() < 64) {
        try {
            free_jobs_.push_back(j);
            return;
        } catch (...) {
        }
    }
    delete j;
}

epoll_engine::~epoll_engine() {
    shutdown();  // (waits for the jobs on the worker pool)
    for (disk_job* j : free_jobs_) delete j;
    ::close(epfd_);
}

bool epoll_engine::offload(io_op& op) noexcept {
    disk_job* j = nullptr;
    try {
        if (free_jobs_.empty()) {
            j = new disk_job(this);
        } else {
            j = free_jobs_.back();
            free_jobs_.pop_back();
        }
        j->op = &op;
        j->req = io_op();
        io_op& r = j->req;
        r.kind = op.kind;
        r.flags = op.flags;
        r.len = op.len;
        r.off = op.off;
        r.fd = op.fd;
        if (op.fd >= 0) {
            j->fd_dup = ::fcntl(op.fd, F_DUPFD_CLOEXEC, 0);
            if (j->fd_dup < 0 && errno != EBADF) {  // (EBADF: the call will say it)
                recycle(j);
                return false;
            }
            r.fd = j->fd_dup >= 0 ? j->fd_dup : op.fd;
        }
        // The paths and the second pointer, per kind (io_kinds in io_op.cpp).
        if (op.kind != io_kind::fsync) {
            j->path = static_cast<const char*>(op.addr);
            r.addr = j->path.data();
        }
        if (op.kind == io_kind::statx) {
            r.addr2 = &j->stx;
        } else if (op.kind == io_kind::renameat || op.kind == io_kind::symlinkat || op.kind == io_kind::linkat) {
            j->path2 = static_cast<const char*>(op.addr2);
            r.addr2 = j->path2.data();
        }
        disk_jobs_.push_back(j);
    } catch (...) {
        if (j != nullptr) {
            if (j->fd_dup >= 0) ::close(j->fd_dup);
            recycle(j);
        }
        return false;
    }
    submit_job(j);
    return true;
}

epoll_engine::disk_job* epoll_engine::job_of(const io_op& op) const noexcept {
    for (disk_job* j : disk_jobs_)
        if (j->op == &op) return j;
    return nullptr;
}

// An open or a stat that needs no I/O, made on the loop as io_uring makes it inline:
// openat2's RESOLVE_CACHED (5.12) fails with EAGAIN where the path's lookup would need the
// disk. The open is made with O_NONBLOCK so that opening a FIFO or a device cannot wait for
// its other side (a FIFO without a reader says ENXIO); a file that turns out not to be a
// regular file or a directory is closed again and opened on the worker pool, blocking as
// the caller asked. A stat goes through an O_PATH open, which never runs the file's open.
// Opens that create or truncate may write: never here. -EAGAIN: to the worker pool.
std::int32_t epoll_engine::attempt_cached(io_op& op) noexcept {
    const char* p = static_cast<const char*>(op.addr);
    if (p == nullptr || *p == '\0') return -EAGAIN;
    open_how how{};
    how.resolve = RESOLVE_CACHED;
    const bool stat = op.kind == io_kind::statx;
    if (stat) {
        how.flags = O_PATH | O_CLOEXEC | ((op.flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0);
    } else {
        const int flags = op.flags | op.traits().forced_flags;
        if ((flags & (O_CREAT | O_TRUNC)) != 0 || (flags & O_TMPFILE) == O_TMPFILE) return -EAGAIN;
        how.flags = static_cast<std::uint64_t>(flags | O_NONBLOCK);
        how.mode = (flags & O_CREAT) != 0 ? op.len : 0;
    }
    int fd = static_cast<int>(::syscall(SYS_openat2, op.fd, p, &how, sizeof how));
    if (fd < 0) {
        const int err = errno;
        if (err == ENOSYS || err == EINVAL || err == E2BIG) {
            // No openat2 (before 5.6), no RESOLVE_CACHED (before 5.12) -- or flags openat2
            // refuses where openat ignores them: the worker makes the calls from now on.
            cached_lookups_ = false;
            return -EAGAIN;
        }
        // (ENXIO: a FIFO without a reader, EWOULDBLOCK: a lease -- the caller's open waits;
        // EPERM: perhaps a seccomp filter refusing openat2 -- the plain call decides.)
        if (err == EAGAIN || err == EINTR || err == EPERM || (!stat && (err == ENXIO || err == EWOULDBLOCK)))
            return -EAGAIN;
        return -err;
    }
    if (stat) {
        int r = ::statx(fd, "", op.flags | AT_EMPTY_PATH, op.len, static_cast<struct statx*>(op.addr2));
        const int err = errno;
        ::close(fd);
        return r == 0 ? 0 : -err;
    }
    if ((op.flags & O_NONBLOCK) == 0) {
        struct stat st;
        if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
            ::close(fd);
            return -EAGAIN;
        }
        int fl = ::fcntl(fd, F_GETFL);
        if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

bool epoll_engine::try_now(io_op& op) noexcept {
    int dir = direction(op);
    if (dir < 0) {
        if (op.traits().may_block_on_disk) {
            // To the worker pool (submit), unless the fault injector answers for the kernel,
            // or the lookup needs no I/O.
            std::int32_t r = LWT_UNLIKELY(faults_ != nullptr) ? faults_->instead_of(op, false) : 0;
            if (r == 0 || r == -EINTR) {
                if (!cached_lookups_ || (op.kind != io_kind::openat && op.kind != io_kind::statx)) return false;
                r = attempt_cached(op);
                if (r == -EAGAIN) return false;
            }
            return done_at_once(op, r);
        }
        return done_at_once(op, perform(op));
    }
    if (op.fd < 0) return done_at_once(op, -EBADF);  // a closed file_descr: what the kernel would say
    std::int32_t r;
    try {
        if (op.kind == io_kind::poll) {
            // A readiness wait consumes nothing and queues behind nobody: poll(2) says now.
            // It leaves the descriptor's mode alone (it may not be ours: see unix/ready.hpp).
            r = attempt(op, slot(op.fd), false);  // (the slot is submit's)
        } else {
            fd_entry& e = entry(op.fd);
            const op_queue& l = dir == 1 ? e.writers : e.readers;
            // Behind parked operations (FIFO), or drained since the last edge: park at once.
            if (l.head != nullptr || (e.registered && e.drained[dir])) return false;
            r = attempt(op, e, false);
            note_result(e, op, dir, r);
        }
    } catch (...) {
        r = -ENOMEM;
    }
    if (r == -EAGAIN) return false;
    return done_at_once(op, r);
}

void epoll_engine::submit(io_op& op) noexcept {
    ++submitted_;
    if (op.traits().may_block_on_disk) {
        op.phase = io_phase::pending;
        ++live_ops_;
        if (!offload(op)) {
            // No memory or no descriptor for a job: made here, completed next iteration.
            op.res = perform(op);
            performed_.push(op);
        }
        return;
    }
    fd_entry& e = fds_[static_cast<std::size_t>(op.fd)];  // try_now created it
    // A readiness wait registers again even where the entry says registered: the descriptor
    // may not be ours, and its owner may have closed it (which drops its registration) and
    // opened another file under its number. EEXIST: still the file registered; success
    // there: a new file, whose entry starts afresh.
    if (!e.registered || op.kind == io_kind::poll) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.fd = op.fd;
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, op.fd, &ev) == 0) {
            if (e.registered) renew(e);
            e.registered = true;
        } else if (errno == EEXIST) {
            e.registered = true;
        }
    }
    op.phase = io_phase::pending;
    op.tag = serving_;
    ++live_ops_;
    queue_of(e, op).push(op);
    if (!e.registered) {
        // epoll refuses this fd: it is always ready; complete on the next iteration.
        ready_.push_back(op.fd);
    }
}

void epoll_engine::serve_list(int fd, bool writers, std::uint32_t events, bool polls_only) noexcept {
    // A poll consumes nothing: it completes whenever the events match, wherever it stands in
    // the list -- if it was parked before they were seen: a completion may have consumed
    // what they said, or closed the fd and opened another file under its number. The other operations go in FIFO order, and the first that would block stops
    // the rest (with `polls_only`, this edge is not theirs at all). After each completion the
    // scan starts again from the head: completing runs coroutines, which may park or cancel.
    bool blocked = polls_only;
    for (;;) {
        fd_entry& e = fds_[static_cast<std::size_t>(fd)];  // re-read: completions may grow fds_
        op_queue& l = writers ? e.writers : e.readers;
        io_op* op = l.head;
        std::int32_t r = -EAGAIN;
        for (; op != nullptr; op = op->next) {
            if (op->kind == io_kind::poll) {
                if (op->tag == serving_) continue;  // parked since these events were seen
                auto want = static_cast<std::uint32_t>(op->flags) | POLLERR | POLLHUP;
                r = static_cast<std::int32_t>(events & want);
                if (r != 0) break;
            } else if (!blocked) {
                r = attempt(*op, e, true);
                note_result(e, *op, writers ? 1 : 0, r);
                if (r != -EAGAIN) break;
                blocked = true;
            }
        }
        if (op == nullptr) return;
        l.remove(*op);
        finish(*op, r, op->cqe_flags);  // (recv_chunk: the buffer)
    }
}

void epoll_engine::serve(int fd, std::uint32_t events) noexcept {
    if (static_cast<std::size_t>(fd) >= fds_.size()) return;
    ++serving_;
    fd_entry& e = fds_[static_cast<std::size_t>(fd)];
    constexpr std::uint32_t in = EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI;
    constexpr std::uint32_t out = EPOLLOUT | EPOLLHUP | EPOLLERR;
    if (events & in) e.drained[0] = false;
    if (events & out) e.drained[1] = false;
    // A poll for both directions parks with the readers (io_readiness::input): writability
    // alone must reach it too.
    if (events & (in | out)) serve_list(fd, false, events, (events & in) == 0);
    if (events & out) serve_list(fd, true, events, false);
}

void epoll_engine::finish_performed() noexcept {
    while (io_op* op = performed_.pop()) finish(*op, op->res);
}

void epoll_engine::wait(std::int64_t timeout_ns) {
    if (!ready_.empty() || !spurious_.empty() || !performed_.empty()) timeout_ns = 0;
    epoll_event evs[256];
    int n;
    if (pwait2_) {
        timespec ts;
        timespec* tp = nullptr;
        if (timeout_ns >= 0) {
            ts.tv_sec = timeout_ns / 1'000'000'000;
            ts.tv_nsec = timeout_ns % 1'000'000'000;
            tp = &ts;
        }
        n = ::epoll_pwait2(epfd_, evs, 256, tp, nullptr);
        if (n < 0 && errno == ENOSYS) pwait2_ = false;
    }
    if (!pwait2_) {
        int ms = timeout_ns < 0 ? -1 : static_cast<int>((timeout_ns + 999'999) / 1'000'000);
        n = ::epoll_wait(epfd_, evs, 256, ms);
    }
    woke(std::exchange(submitted_, 0));
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.fd == wake_fd_) {
            eventfd_t v;
            eventfd_read(wake_fd_, &v);
            run_inbox();
        } else {
            serve(evs[i].data.fd, evs[i].events);
        }
    }
    if (!ready_.empty()) {
        std::vector<int> fds;
        fds.swap(ready_);
        for (int fd : fds) serve(fd, EPOLLIN | EPOLLOUT);
    }
    if (LWT_UNLIKELY(!spurious_.empty())) serve_spurious();
    if (LWT_UNLIKELY(!performed_.empty())) finish_performed();
}

// The fds whose attempt the fault injector answered with EAGAIN: the edge that made them
// ready may be spent, so they are served with what poll(2) says of them now (their
// readiness, not a guess: a poll operation must not see events that did not happen) --
// even with nothing parked (its op may be gone): that clears the `drained` hint the EAGAIN
// left, which no edge would clear.
LWT_COLD void epoll_engine::serve_spurious() noexcept {
    std::vector<int> fds;
    fds.swap(spurious_);
    for (int fd : fds) {
        if (static_cast<std::size_t>(fd) >= fds_.size()) continue;
        pollfd p{fd, POLLIN | POLLOUT | POLLRDHUP | POLLPRI, 0};
        if (::poll(&p, 1, 0) > 0 && !(p.revents & POLLNVAL)) serve(fd, static_cast<std::uint16_t>(p.revents));
    }
}

void epoll_engine::cancel(io_op& op) noexcept {
    if (!op.in_flight()) return;
    op.cancel_requested = true;
    if (op.traits().may_block_on_disk) {
        if (disk_job* j = job_of(op)) {
            // The call cannot be interrupted: it goes on, its result dropped.
            j->op = nullptr;
            finish(op, -ECANCELED);
        } else {  // performed already (performed_): its result, with the cancel noted
            performed_.remove(op);
            finish(op, op.res);
        }
        return;
    }
    fd_entry& e = fds_[static_cast<std::size_t>(op.fd)];
    queue_of(e, op).remove(op);
    finish(op, -ECANCELED);
}

bool epoll_engine::relocate(io_op& from, io_op& to) noexcept {
    if (from.traits().may_block_on_disk) {
        if (disk_job* j = job_of(from)) {
            j->op = &to;  // (to.addr2 is re-aimed: a statx's result lands in the new owner)
        } else {
            // Performed already: a statx wrote into from's owner, which stays as it is.
            if (from.kind == io_kind::statx && from.res >= 0) std::memcpy(to.addr2, from.addr2, sizeof(struct statx));
            to.res = from.res;
            performed_.replace(from, to);
        }
        to.phase = io_phase::pending;
        from.phase = io_phase::idle;
        return true;
    }
    fd_entry& e = fds_[static_cast<std::size_t>(from.fd)];
    queue_of(e, from).replace(from, to);
    to.tag = from.tag;
    to.phase = io_phase::pending;
    from.phase = io_phase::idle;
    return true;
}

void epoll_engine::forget_fd(int fd) noexcept {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) return;
    for (;;) {
        fd_entry& e = fds_[static_cast<std::size_t>(fd)];
        io_op* op = e.readers.head != nullptr ? e.readers.head : e.writers.head;
        if (op == nullptr) break;
        (op == e.readers.head ? e.readers : e.writers).remove(*op);
        finish(*op, -EBADF);
    }
    fd_entry& e = fds_[static_cast<std::size_t>(fd)];
    if (e.registered) ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    e = fd_entry{};
}

void epoll_engine::cancel_all() noexcept {
    for (std::size_t i = 0; i < disk_jobs_.size(); ++i)  // (completions may offload more)
        if (io_op* op = std::exchange(disk_jobs_[i]->op, nullptr)) {
            op->cancel_requested = true;
            finish(*op, -ECANCELED);
        }
    finish_performed();
    for (std::size_t fd = 0; fd < fds_.size(); ++fd) {
        for (;;) {
            fd_entry& e = fds_[fd];
            io_op* op = e.readers.head != nullptr ? e.readers.head : e.writers.head;
            if (op == nullptr) break;
            op->cancel_requested = true;
            (op == e.readers.head ? e.readers : e.writers).remove(*op);
            finish(*op, -ECANCELED);
        }
    }
}

}  // namespace lwt::detail
