// The engine base: selection, timers, wake-ups from other threads, completions, teardown.
// See the reading guide in include/lwt/detail/engine.hpp.
#include <lwt/detail/engine.hpp>
#include <lwt/detail/epoll_engine.hpp>
#if LWT_HAVE_URING
#include <lwt/detail/uring_engine.hpp>
#endif

#include <fmt/core.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

namespace lwt::detail {

std::int64_t monotonic_ns() noexcept {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// ---------------------------------------------------------------------------------------
// The engine of this thread.

namespace {

// Owns the thread's engine and its exit hooks; destroyed at thread exit (for the main
// thread: at exit()). Created after the context's own guard, so destroyed before it.
struct engine_holder {
    std::unique_ptr<io_engine> e;
    std::vector<std::function<void()>> exit_hooks;
    engine_holder() { ensure_context_guard(); }
    ~engine_holder() { shut_down(); }
    void shut_down() noexcept {
        // Hooks first (LIFO; a hook may register more), then what can never be resolved,
        // then the engine (its teardown cancels what is in flight). Code that runs during
        // teardown may start more work, even a new engine: repeat until quiet.
        for (int round = 0; round < 8; ++round) {
            while (!exit_hooks.empty()) {
                auto f = std::move(exit_hooks.back());
                exit_hooks.pop_back();
                f();
            }
            reap_abandoned();
            if (!e) break;
            std::unique_ptr<io_engine> dying = std::move(e);
            dying.reset();
            ctx.engine = nullptr;
            if (!e && abandoned_count() == 0 && exit_hooks.empty()) break;
        }
        ctx.engine = nullptr;
    }
};

thread_local engine_holder holder;

std::atomic<bool> fallback_logged{false};

// Said once per process, and only when io_uring was asked for by name or LWT_VERBOSE is set:
// an automatic fallback is the normal case on many machines, and a program's stderr is its
// own (engine::id() tells which engine runs).
void log_fallback(const std::string& why, bool asked) {
    if ((asked || std::getenv("LWT_VERBOSE") != nullptr) && !fallback_logged.exchange(true, std::memory_order_relaxed)) {
        fmt::print(stderr, "lwt: io_uring unavailable ({}); using the epoll engine\n", why);
        std::fflush(stderr);
    }
}

std::unique_ptr<io_engine> make_engine() {
    // A write to a pipe or socket whose reader is gone fails with EPIPE instead of killing the
    // program (sends also pass MSG_NOSIGNAL). Only when the program left SIGPIPE at its default.
    struct sigaction old {};
    if (::sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL) ::signal(SIGPIPE, SIG_IGN);
    const char* want = std::getenv("LWT_ENGINE");
    std::string w = want != nullptr ? want : "";
    if (w == "epoll") return std::make_unique<epoll_engine>();
    if (!w.empty() && w != "uring" && w != "io_uring" && w != "auto")
        fmt::print(stderr, "lwt: unknown LWT_ENGINE={} (expected uring or epoll); choosing automatically\n", w);
    std::string why = "lwt++ was built without liburing";
#if LWT_HAVE_URING
    if (auto e = uring_engine::create(why)) {
        if (std::getenv("LWT_VERBOSE") != nullptr) fmt::print(stderr, "lwt: using the io_uring engine\n");
        return e;
    }
#endif
    log_fallback(why, w == "uring" || w == "io_uring");
    return std::make_unique<epoll_engine>();
}

}  // namespace

void register_exit_hook(std::function<void()> f) { holder.exit_hooks.push_back(std::move(f)); }

void end_thread_engine() noexcept { holder.shut_down(); }

io_engine& io_engine::create() {
    inherit_tracing();
    holder.e = make_engine();
    ctx.engine = holder.e.get();
    return *holder.e;
}

io_engine::io_engine() {
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
    if (fault_config c = fault_config::from_env(); c.any()) faults_ = std::make_unique<fault_injector>(c);
    if (const char* ms = std::getenv("LWT_STALL_MS"); ms != nullptr && *ms != '\0')
        stall_ns_ = static_cast<std::int64_t>(std::strtod(ms, nullptr) * 1e6);
    watched_ = stall_ns_ > 0 || (ctx.tracing & trace_events) != 0;
}

fault_injector& io_engine::faults() {
    if (!faults_) faults_ = std::make_unique<fault_injector>(fault_config{});
    return *faults_;
}

io_engine::~io_engine() {
    buffer_pool::retire(pool_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
}

namespace {
std::uint32_t env_count(const char* name, std::uint32_t otherwise) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return otherwise;
    char* end = nullptr;
    unsigned long n = std::strtoul(v, &end, 10);
    return *end == '\0' && n > 0 && n <= (1ul << 30) ? static_cast<std::uint32_t>(n) : otherwise;
}
}  // namespace

buffer_pool& io_engine::make_pool() {
    const std::uint32_t size = env_count("LWT_RECV_BUFFER_SIZE", 16384);
    const std::uint32_t max = env_count("LWT_RECV_BUFFERS", 4096);
    pool_ = new buffer_pool(size, 16, max);
    adopt_pool(*pool_);
    return *pool_;
}

namespace {
std::mutex teardown_mutex;
std::vector<void (*)(io_engine*)> teardown_hooks;
}  // namespace

void add_engine_teardown_hook(void (*hook)(io_engine*)) {
    std::lock_guard<std::mutex> lk(teardown_mutex);
    if (std::find(teardown_hooks.begin(), teardown_hooks.end(), hook) == teardown_hooks.end())
        teardown_hooks.push_back(hook);
}

void io_engine::shutdown() noexcept {
    {
        std::vector<void (*)(io_engine*)> hooks;
        {
            std::lock_guard<std::mutex> lk(teardown_mutex);
            hooks = teardown_hooks;
        }
        for (auto* h : hooks) h(this);
    }
    // Derived destructors call this while their kernel interface still works. Everything
    // pending completes (coroutines see ECANCELED or lwt::canceled and may react, even start
    // more work); repeat until quiescent, then free what is left.
    for (int round = 0; round < 64; ++round) {
        cancel_all();
        while (!timers_.empty()) {
            timer_node* t = timers_[0].node;
            remove_timer(t);
            reject_canceled(t);
            release(t);  // the heap's reference
        }
        // Worker jobs and replies from other loops will be posted here: wait for them (the
        // wake-up poll may be gone, so look at the inbox every 10 ms).
        while (jobs_outstanding.load(std::memory_order_acquire) > 0) {
            wait(10'000'000);
            run_inbox();
        }
        run_inbox();
        if (!queue_empty()) drain_queue();
        if (live_ops_ == 0 && timers_.empty()) break;
    }
    if (LWT_UNLIKELY(faults_ != nullptr)) faults_->at_teardown(id(), live_ops_);
}

// ---------------------------------------------------------------------------------------
// Stall detection. An iteration's busy part runs from its kernel call's return (woke) to the
// start of the next iteration: completions, timers, pauses, what they deferred, the hooks.

void io_engine::set_stall_threshold(std::int64_t ns) noexcept {
    stall_ns_ = ns > 0 ? ns : 0;
    watched_ = stall_ns_ > 0 || (ctx.tracing & trace_events) != 0;
    woke_at_ = 0;
    step_ = {};
}

LWT_COLD void io_engine::watched_complete(io_op& op) noexcept {
    resolution_scope scope;
    // (Read before complete: it may destroy the op.)
    // (A coroutine frame's first word is its resume function -- g++ clears it when the
    // coroutine finishes, so it is read now.)
    const bool resumes = op.complete == &resume_awaiter && op.frame != nullptr;
    step s{0, op.traits().name, op.fd, resumes ? *static_cast<void* const*>(op.frame) : nullptr};
    if (ctx.tracing & trace_events) {
        trace_op_end(op, resumes ? op.coro : nullptr);
    }
    const std::int64_t t0 = monotonic_ns();
    op.complete(&op);
    s.ns = monotonic_ns() - t0;
    if (s.ns > step_.ns) step_ = s;
}

LWT_COLD void io_engine::end_busy_part() noexcept {
    const std::int64_t now = monotonic_ns();
    const std::int64_t busy = now - woke_at_;
    if (ctx.tracing & trace_events) trace_iteration(woke_at_, now);
    woke_at_ = 0;
    if (busy > metrics_.longest_iteration_ns) metrics_.longest_iteration_ns = busy;
    if (stall_ns_ > 0 && busy > stall_ns_) {
        ++metrics_.stalls;
        report_stall(busy, stall_ns_, step_.ns, step_.kind, step_.fd, step_.resumed);
    }
    step_ = {};
}

// ---------------------------------------------------------------------------------------
// Wake-ups from other threads: a lock-free LIFO of items (release on push, acquire on take,
// so what the poster wrote into an item is visible to the loop), plus an eventfd write by
// whoever finds the list empty -- later posters know a wake-up is already on its way.

void (*ring_wake_failed)(std::uint32_t) noexcept = nullptr;

bool io_engine::push(inbox_item* item) noexcept {
    inbox_item* head = inbox_.load(std::memory_order_relaxed);
    do {
        item->next = head;
    } while (!inbox_.compare_exchange_weak(head, item, std::memory_order_release, std::memory_order_relaxed));
    return head == nullptr;
}

void io_engine::run_inbox() noexcept {
    inbox_item* list = inbox_.exchange(nullptr, std::memory_order_acquire);
    inbox_item* fifo = nullptr;
    while (list != nullptr) {  // reverse into posting order
        inbox_item* next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo != nullptr) {
        inbox_item* next = fifo->next;
        resolution_scope scope;
        fifo->run(fifo);
        fifo = next;
    }
}

// ---------------------------------------------------------------------------------------
// Timers: a 4-ary min-heap of (deadline, node) slots; nodes know their index, for O(log n)
// removal on cancel. When an iteration finds many timers expired at once (a million sleeps
// ending together), popping them one by one would cost log n cache misses each: past a few
// hundred, the rest are taken in one linear pass, sorted, and the heap is rebuilt.

void io_engine::add_timer(timer_node* t) {
    auto i = static_cast<std::uint32_t>(timers_.size());
    timers_.push_back({t->deadline, t});
    t->index = i;
    sift_up(i);
    if (LWT_UNLIKELY(ctx.tracing & trace_events)) trace_timer_begin(t, t->deadline);
}

void io_engine::remove_timer(timer_node* t) noexcept {
    std::uint32_t i = t->index;
    if (i == timer_node::npos) return;
    if (LWT_UNLIKELY(ctx.tracing & trace_events)) trace_timer_end(t, false);
    t->index = timer_node::npos;
    timer_slot last = timers_.back();
    timers_.pop_back();
    if (last.node == t) return;
    place(i, last);
    sift_down(i);
    sift_up(last.node->index);
}

void io_engine::sift_up(std::uint32_t i) noexcept {
    timer_slot t = timers_[i];
    while (i > 0) {
        std::uint32_t parent = (i - 1) / 4;
        if (timers_[parent].deadline <= t.deadline) break;
        place(i, timers_[parent]);
        i = parent;
    }
    place(i, t);
}

void io_engine::sift_down(std::uint32_t i) noexcept {
    auto n = static_cast<std::uint32_t>(timers_.size());
    timer_slot t = timers_[i];
    for (;;) {
        std::uint32_t first = 4 * i + 1;
        if (first >= n) break;
        std::uint32_t best = first;
        std::uint32_t end = first + 4 < n ? first + 4 : n;
        for (std::uint32_t c = first + 1; c < end; ++c)
            if (timers_[c].deadline < timers_[best].deadline) best = c;
        if (timers_[best].deadline >= t.deadline) break;
        place(i, timers_[best]);
        i = best;
    }
    place(i, t);
}

// Fulfils an expired timer taken out of the heap (whose reference it releases).
void io_engine::fire_one(timer_node* t) noexcept {
    if (LWT_UNLIKELY(ctx.tracing & trace_events)) trace_timer_end(t, true);
    if (t->pending()) {
        t->set_value();
        resolution_scope scope;
        run_waiters(t);
    }
    release(t);  // the heap's reference
}

void io_engine::fire_timers() noexcept {
    if (timers_.empty()) return;
    std::int64_t now = monotonic_ns();
    for (int popped = 0; !timers_.empty() && timers_[0].deadline <= now; ++popped) {
        if (popped == 256 && timers_.size() > 4096) {
            fire_batch(now);
            return;
        }
        timer_node* t = timers_[0].node;
        remove_timer(t);
        fire_one(t);
    }
}

void io_engine::fire_batch(std::int64_t now) noexcept {
    std::vector<timer_slot> expired;
    std::size_t keep = 0;
    for (std::size_t i = 0; i < timers_.size(); ++i) {
        if (timers_[i].deadline <= now) {
            timers_[i].node->index = timer_node::npos;
            expired.push_back(timers_[i]);
        } else {
            timers_[keep++] = timers_[i];
        }
    }
    timers_.resize(keep);
    for (std::size_t i = 0; i < keep; ++i) timers_[i].node->index = static_cast<std::uint32_t>(i);
    if (keep > 1)
        for (std::size_t i = (keep - 2) / 4 + 1; i-- > 0;) sift_down(static_cast<std::uint32_t>(i));
    std::sort(expired.begin(), expired.end(),
              [](const timer_slot& a, const timer_slot& b) { return a.deadline < b.deadline; });
    // Firing runs user code, which may add timers (to the rebuilt heap) or cancel timers of
    // this batch (their index is npos: only rejected; fire_one then skips them). The nodes
    // and their first waiters are scattered in memory: prefetch a few timers ahead.
    constexpr std::size_t ahead = 8;
    for (std::size_t i = 0; i < expired.size(); ++i) {
        if (i + 2 * ahead < expired.size()) __builtin_prefetch(expired[i + 2 * ahead].node);
        if (i + ahead < expired.size())
            if (waiter* w = expired[i + ahead].node->head) __builtin_prefetch(w);
        fire_one(expired[i].node);
    }
}

}  // namespace lwt::detail
