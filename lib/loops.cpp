// A loop per core: starting the loops, carrying messages between them, ending them.
// The reading guide is in include/lwt/detail/cross_loop.hpp.
//
// Life of a loops::run:
//  1. Start. Loop 0 is the calling thread, loops 1..n-1 new threads. Each pins itself if
//     asked, makes its engine and registers its slot; nobody calls f before every loop is
//     registered (posts from f(i) find every loop), and if one cannot start (no thread, no
//     engine, no CPU to pin to), none calls f and run throws that error.
//  2. Work. Each loop runs main::run of its body: f(i), then -- reported to the group -- the
//     wait for the stop message. The first failure cancels the other loops' f (a message
//     each). The last f to settle sends every loop the stop message.
//  3. Close. Each loop stops accepting requests (`open`), then all meet at a barrier: after
//     it no request can be on its way, since requests are sent only by loop threads, which
//     test `open` and push before they reach the barrier. Each loop then rejects what its
//     inbox still holds (loop_ended), cancels what it serves, and iterates until every reply
//     it is owed has arrived and everything it served has replied.
//  4. End. Loops 1..n-1 end their engines (background work is cancelled; its posts are
//     refused) and their threads; loop 0 joins them and returns (its engine, the caller's,
//     stays, as after main::run), rethrowing the first failure.
#include <lwt/detail/trace.hpp>
#include <lwt/loops.hpp>
#include <lwt/main.hpp>
#include <lwt/unix/error.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <barrier>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

namespace lwt::loops {

loop_ended::loop_ended(std::size_t i) noexcept : index(i) {
    // (snprintf: fmt's format_to_n does not link from clang against Debian's libfmt)
    std::snprintf(msg_, sizeof msg_, "lwt::loops: loop %zu has ended", i);
}
const char* loop_ended::what() const noexcept { return msg_; }

}  // namespace lwt::loops

namespace lwt::detail {

struct loop_group;

// What other loops know of a loop. Written before the start barrier; afterwards only `open`
// changes.
struct loop_slot {
    std::size_t index = 0;
    loop_group* group = nullptr;  // null: this thread's loop outside loops::run
    io_engine* engine = nullptr;
    int ring_fd = -1;  // a duplicate of its ring's descriptor (io_uring with MSG_RING), or -1
    int wake_fd = -1;  // a duplicate of its eventfd (or, outside run, the eventfd itself)
    // Accepts requests. Cleared by the loop itself when it closes; read relaxed by senders:
    // the closing barrier orders every later read after the store.
    std::atomic<bool> open{true};
    inbox_item stop_msg;    // every loop's work has settled
    inbox_item cancel_msg;  // another loop failed: cancel f(i)
    ~loop_slot() {
        if (group == nullptr) return;  // outside run: the engine's own descriptors
        if (ring_fd >= 0) ::close(ring_fd);
        if (wake_fd >= 0) ::close(wake_fd);
    }
};

struct loop_group {
    explicit loop_group(std::size_t count, loops::run_options o)
        : n(count), opts(o), closing(static_cast<std::ptrdiff_t>(count)), unsettled(count) {}

    std::size_t n;
    loops::run_options opts;
    std::vector<std::unique_ptr<loop_slot>> slots;
    std::vector<int> cpus;  // the CPUs the process may use, for pinning

    // Start: every loop registers (or reports why it cannot start) before any f runs.
    std::mutex m;
    std::condition_variable cv;
    std::size_t registered = 0;
    bool go = false;      // loop 0 has decided; the others may look at `start`
    bool start = false;   // every loop registered without error: all of them call f
    std::exception_ptr first_error;  // guarded by m; set: run has failed

    // Keeps e if it is the first failure (m held); whether it was.
    bool fail(std::exception_ptr e) {
        if (first_error) return false;
        first_error = std::move(e);
        return true;
    }

    std::barrier<> closing;
    std::atomic<std::size_t> unsettled;  // loops whose f has not settled yet
};

namespace {

// This thread's loop: its slot, and what it serves and is owed (touched by this thread only).
struct loop_local {
    loop_slot* slot = nullptr;  // null: not inside loops::run
    loop_slot solo;             // this thread's loop outside loops::run
    bool closed = false;
    std::size_t replies_due = 0;
    serving_link serving;  // circular list of the posts being served here (sentinel)
    std::optional<promise<void>> work;                   // f(i)
    std::optional<std::pair<promise<void>, resolver<void>>> stop;
    std::optional<resolver<void>> quiet;  // resolved when closing has nothing left to wait for
    bool reported = false;                // f(i) has settled and the group knows

    loop_local() { serving.prev = serving.next = &serving; }
    bool nothing_owed() const noexcept { return replies_due == 0 && serving.next == &serving; }
    void check_quiet() {
        if (quiet && nothing_owed()) std::exchange(quiet, std::nullopt)->resolve();
    }
};
thread_local loop_local L;

// Wakes `to` after a push onto its empty inbox. From a loop of the group on io_uring to one
// on io_uring, while the loops work: a ring message, submitted with this loop's next
// submission (a working loop always iterates again, and flushes its submissions before it
// blocks at the closing barrier). Otherwise -- and for everything sent after the barrier,
// when a loop may stop iterating or tear its ring down at any moment -- the eventfd.
void wake(loop_slot& to) noexcept {
    if (to.ring_fd >= 0 && L.slot != nullptr && !L.closed && L.slot->engine != to.engine &&
        L.slot->engine->sends_ring_messages()) {
        L.slot->engine->send_ring_wake(to.ring_fd, static_cast<std::uint32_t>(to.index));
        return;
    }
    eventfd_write(to.wake_fd, 1);
}

void deliver(loop_slot& to, inbox_item* it) noexcept {
    if (to.engine->push(it)) wake(to);
}

// The kernel refused a ring message to loop `token`: wake it by its eventfd (the group keeps
// the duplicate open until every loop has ended). Outside run the group is gone, and so is
// anyone waiting for the wake-up.
void on_ring_wake_failed(std::uint32_t token) noexcept {
    if (L.slot == nullptr || L.slot->group == nullptr || token >= L.slot->group->n) return;
    eventfd_write(L.slot->group->slots[token]->wake_fd, 1);
}

// Installed once, when the library is loaded (the engine calls it on any thread).
const bool ring_wake_hook_installed = (ring_wake_failed = &on_ring_wake_failed, true);

int dup_cloexec(int fd) {
    int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0) throw unix_::unix_error(errno, "fcntl", fmt::format("F_DUPFD_CLOEXEC {}", fd));
    return d;
}

void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (int r = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set); r != 0)
        throw unix_::unix_error(r, "pthread_setaffinity_np", fmt::format("CPU {}", cpu));
}

// ---- the group's messages ----

void record_failure(loop_group& g, std::exception_ptr e) {
    {
        std::lock_guard<std::mutex> lk(g.m);
        if (!g.fail(std::move(e))) return;
    }
    for (auto& s : g.slots)
        if (s.get() != L.slot) deliver(*s, &s->cancel_msg);  // every loop is open until stop
}

void settled_one(loop_group& g) {
    if (g.unsettled.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    for (auto& s : g.slots) deliver(*s, &s->stop_msg);
}

promise<void> loop_body(loop_group& g, std::size_t i, const std::function<promise<void>(std::size_t)>& f) {
    try {
        L.work.emplace(invoke_to_promise([&] { return f(i); }));
        co_await promise<void>(*L.work);
    } catch (...) {
        record_failure(g, std::current_exception());
    }
    L.work.reset();
    L.reported = true;
    settled_one(g);
    co_await promise<void>(L.stop->first);
}

// Step 1 for loop i, on its thread: pins it, makes its engine and registers its slot (or
// the reason it cannot start).
void register_loop(loop_group& g, std::size_t i) {
    loop_slot& s = *g.slots[i];
    L.slot = &s;
    name_trace_thread("lwt loop " + std::to_string(i));
    std::exception_ptr err;
    try {
        if (g.opts.pin) {
            if (g.cpus.empty()) throw std::runtime_error("lwt::loops::run: no CPU to pin to");
            pin_to(g.cpus[i % g.cpus.size()]);
        }
        io_engine& e = io_engine::current();
        s.engine = &e;
        s.wake_fd = dup_cloexec(e.wake_fd());
        if (e.ring_fd() >= 0 && e.sends_ring_messages()) s.ring_fd = dup_cloexec(e.ring_fd());
    } catch (...) {
        err = std::current_exception();
    }
    std::lock_guard<std::mutex> lk(g.m);
    if (err) g.fail(err);
    ++g.registered;
    g.cv.notify_all();
}

// Waits until loop 0 has seen every loop registered; false: run is aborted. The answer is
// loop 0's decision, not first_error now: a loop that wakes late may find the failure of a
// loop that has already started, and must still serve -- the group waits for its f to settle.
bool await_start(loop_group& g) {
    std::unique_lock<std::mutex> lk(g.m);
    g.cv.wait(lk, [&] { return g.go; });
    return g.start;
}

// Steps 2 and 3 for loop i, on its thread.
void serve_loop(loop_group& g, std::size_t i, const std::function<promise<void>(std::size_t)>& f) {
    loop_slot& s = *g.slots[i];
    io_engine& e = *s.engine;
    L.stop.emplace(lwt::wait<void>());
    // While in the group, a loop can always receive a message: never "unable to settle".
    e.external_sources.fetch_add(1, std::memory_order_relaxed);
    L.reported = false;
    try {
        main::run([&] { return loop_body(g, i, f); });
    } catch (...) {
        // (The body catches what f does; this is the loop itself failing.) The others must
        // still come to the barrier: report this loop as done.
        record_failure(g, std::current_exception());
        if (!L.reported) settled_one(g);
    }
    // What the last iteration sent (a reply, another loop's stop) may still be queued on the
    // ring with its wake-up: hand it to the kernel before this loop blocks at the barrier.
    e.flush_submissions();
    s.open.store(false, std::memory_order_relaxed);
    g.closing.arrive_and_wait();
    L.closed = true;
    e.run_inbox();  // requests that arrived before the close are refused now
    // Cancel what is still served. Cancelling runs user code, which may end other posts of
    // the list (and their callers may free them at once): take the promises first.
    std::vector<promise<void>> serving;
    for (serving_link* l = L.serving.next; l != &L.serving; l = l->next)
        if (*l->work) serving.push_back(**l->work);
    for (promise<void>& w : serving) lwt::cancel(w);
    serving.clear();
    e.external_sources.fetch_sub(1, std::memory_order_relaxed);
    if (!L.nothing_owed()) {
        auto [p, r] = lwt::wait<void>();
        L.quiet.emplace(std::move(r));
        try {
            main::run(p);
        } catch (...) {
            // What it serves can never reply (it ignored cancellation and waits on nothing).
            L.quiet.reset();
        }
    }
    e.flush_submissions();
    L.stop.reset();
}

void leave_group() noexcept {
    L.slot = nullptr;
    L.closed = false;
    L.work.reset();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// What cross_loop.hpp and loops.hpp call.

loop_slot& this_loop() {
    if (L.slot != nullptr) return *L.slot;
    io_engine& e = io_engine::current();  // (may be a new engine since the last call)
    L.solo.engine = &e;
    L.solo.wake_fd = e.wake_fd();
    return L.solo;
}

loop_slot& loop_at(std::size_t i, const char* call) {
    std::size_t n = L.slot != nullptr ? L.slot->group->n : 1;
    if (i >= n) throw std::invalid_argument(fmt::format("{}: no loop {} (there are {})", call, i, n));
    return L.slot != nullptr ? *L.slot->group->slots[i] : this_loop();
}

std::size_t index_of(const loop_slot& s) noexcept { return s.index; }

bool send_request(loop_slot& to, inbox_item* it) noexcept {
    if (!to.open.load(std::memory_order_relaxed)) return false;
    deliver(to, it);
    return true;
}

void send_reply(loop_slot& to, inbox_item* it) noexcept { deliver(to, it); }

void expect_reply() noexcept {
    io_engine::current().jobs_outstanding.fetch_add(1, std::memory_order_relaxed);
    ++L.replies_due;
}

void reply_arrived() noexcept {
    io_engine::current().jobs_outstanding.fetch_sub(1, std::memory_order_release);
    --L.replies_due;
    L.check_quiet();
}

bool loop_closed() noexcept { return L.closed; }

void serving_add(serving_link* l) noexcept {
    l->next = &L.serving;
    l->prev = L.serving.prev;
    L.serving.prev->next = l;
    L.serving.prev = l;
}

void serving_remove(serving_link* l) noexcept {
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = nullptr;
    L.check_quiet();
}

std::exception_ptr loop_ended_error(std::size_t i) { return std::make_exception_ptr(loops::loop_ended(i)); }

void forget_here(int fd) noexcept {
    if (io_engine* e = io_engine::current_if_any()) e->forget_fd(fd);
}

void close_quietly(int fd) noexcept { ::close(fd); }

}  // namespace lwt::detail

namespace lwt::loops {

using detail::L;

std::size_t index() noexcept { return L.slot != nullptr ? L.slot->index : 0; }
std::size_t count() noexcept { return L.slot != nullptr ? L.slot->group->n : 1; }

std::vector<int> usable_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> out;
    if (::sched_getaffinity(0, sizeof set, &set) == 0)
        for (int c = 0; c < CPU_SETSIZE; ++c)
            if (CPU_ISSET(c, &set)) out.push_back(c);
    return out;
}

std::size_t available_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::size_t n = ::sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<std::size_t>(CPU_COUNT(&set)) : 0;
    return n == 0 ? 1 : n;
}

void run_erased(std::size_t n, std::function<promise<void>(std::size_t)> f, run_options o) {
    if (n == 0) throw std::invalid_argument("lwt::loops::run: needs at least one loop (n == 0)");
    { detail::run_scope nested_check; }  // throws std::logic_error inside a running loop

    detail::loop_group g(n, o);
    if (o.pin) g.cpus = usable_cpus();
    for (std::size_t i = 0; i < n; ++i) {
        auto s = std::make_unique<detail::loop_slot>();
        s->index = i;
        s->group = &g;
        s->stop_msg.run = [](detail::inbox_item*) noexcept {
            if (detail::L.stop) detail::L.stop->second.resolve();
        };
        s->cancel_msg.run = [](detail::inbox_item*) noexcept {
            if (detail::L.work && detail::L.work->is_pending()) lwt::cancel(*detail::L.work);
        };
        g.slots.push_back(std::move(s));
    }
    cpu_set_t caller_cpus;
    bool restore_cpus = o.pin && ::sched_getaffinity(0, sizeof caller_cpus, &caller_cpus) == 0;

    // Each loop calls its own copy of f (made here, on the calling thread).
    std::vector<std::function<promise<void>(std::size_t)>> fs(n, f);
    // The threads are joined however loop 0 leaves (an exception from its own set-up, say).
    struct joined : std::vector<std::thread> {
        ~joined() {
            for (std::thread& t : *this)
                if (t.joinable()) t.join();
        }
    } threads;
    threads.reserve(n - 1);
    for (std::size_t i = 1; i < n; ++i) {
        try {
            threads.emplace_back([&g, &fs, i] {
                detail::register_loop(g, i);
                if (detail::await_start(g)) detail::serve_loop(g, i, fs[i]);
                detail::end_thread_engine();  // while still a loop: posts from teardown are refused
                detail::leave_group();
            });
        } catch (...) {
            std::lock_guard<std::mutex> lk(g.m);
            g.fail(std::current_exception());
            break;
        }
    }
    detail::register_loop(g, 0);
    bool ok;
    {
        // Loop 0 lets the others go once all have registered (or tells them to give up).
        std::unique_lock<std::mutex> lk(g.m);
        g.cv.wait(lk, [&] { return g.registered == threads.size() + 1; });
        g.go = true;
        g.start = ok = !g.first_error;
        g.cv.notify_all();
    }
    if (ok) detail::serve_loop(g, 0, fs[0]);
    detail::leave_group();
    for (std::thread& t : threads) t.join();
    if (restore_cpus) ::pthread_setaffinity_np(::pthread_self(), sizeof caller_cpus, &caller_cpus);
    if (g.first_error) std::rethrow_exception(g.first_error);
}

}  // namespace lwt::loops
