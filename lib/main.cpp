// The main loop of a thread (Lwt_main).
#include <lwt/detail/engine.hpp>
#include <lwt/detail/loop.hpp>
#include <lwt/detail/trace.hpp>
#include <lwt/main.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>

namespace lwt::detail {

namespace {
constinit LWT_TLS bool running = false;
// The hooks of this thread, created on first use (reached with one initial-exec TLS load).
constinit LWT_TLS main::hooks* enter_hooks = nullptr;
constinit LWT_TLS main::hooks* leave_hooks = nullptr;

main::hooks& lazily(main::hooks*& h) {
    if (h == nullptr) {
        static thread_local std::unique_ptr<main::hooks> owner[2];
        auto& slot = owner[&h == &enter_hooks ? 0 : 1];
        slot = std::make_unique<main::hooks>();
        h = slot.get();
    }
    return *h;
}
}

int report_fatal(std::exception_ptr e) noexcept {
    std::string what;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        what = x.what();
    } catch (...) {
        what = "an exception that is not a std::exception";
    }
    // The whole line in one write, so that it is not interleaved with other output.
    std::string line = fmt::format("{}: {}\n", program_invocation_short_name, what);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
    return 2;
}

namespace {
// LWT_DUMP_SIGNAL=USR1 (or SIGUSR1, or a number): main::dump_on_signal for each thread's loop,
// installed at its first run -- a program that seems stuck can be restarted with it, no
// code changed. Anything else is one line on stderr, once per thread, and no handler.
constinit LWT_TLS bool dump_signal_checked = false;
void dump_signal_from_env() {
    dump_signal_checked = true;
    const char* v = std::getenv("LWT_DUMP_SIGNAL");
    if (v == nullptr || *v == '\0') return;
    std::string name = v;
    if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
    int sig = 0;
    if (name == "USR1") sig = SIGUSR1;
    else if (name == "USR2") sig = SIGUSR2;
    else if (name == "QUIT") sig = SIGQUIT;
    else if (name == "HUP") sig = SIGHUP;
    else if (name.find_first_not_of("0123456789") == std::string::npos && name.size() < 4) sig = std::atoi(name.c_str());
    try {
        if (sig <= 0) throw std::invalid_argument("not USR1, USR2, QUIT, HUP or a signal number");
        main::dump_on_signal(sig);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lwt: LWT_DUMP_SIGNAL=%s: %s (no dump on a signal)\n", v, e.what());
    }
}
}  // namespace

run_scope::run_scope() {
    if (running) throw std::logic_error("lwt::main::run: called inside a running loop (nested run)");
    running = true;
    if (LWT_UNLIKELY(!dump_signal_checked)) dump_signal_from_env();
}
run_scope::~run_scope() { running = false; }

// One iteration (docs/semantics.md rule 9): I/O and timer completions, then the pauses created before the
// iteration's wake-up, between the enter and leave hooks. `p` is checked between iterations.
void run_until(cell_base* s) {
    if (!queue_empty()) drain_queue();
    while (s->pending()) {
        io_engine* e = io_engine::current_if_any();
        bool paused = has_paused();
        if (!paused && (e == nullptr || !e->has_pending_work())) {
            // What the promise waits on, so that the hang explains itself (on stderr: the
            // error stays one line).
            std::string tree = "lwt::main::run: the promise that can never settle waits on:\n" + describe_awaited(s);
            if (ctx.tracing & record_coroutines) tree += "every suspended coroutine of this loop:\n" + dump_suspended();
            std::fwrite(tree.data(), 1, tree.size(), stderr);
            throw std::logic_error(
                "lwt::main::run: the promise can never settle (no pending I/O, timer, pause, task, "
                "signal handler or notification)");
        }
        if (enter_hooks != nullptr) enter_hooks->run();
        if (e != nullptr) e->iterate(paused ? 0 : -1);
        if (has_paused()) wake_paused();
        if (leave_hooks != nullptr) leave_hooks->run();
        if (!queue_empty()) drain_queue();
    }
    if (io_engine* e = io_engine::current_if_any()) e->end_iteration();
}

}  // namespace lwt::detail

namespace lwt::main {

hooks::id hooks::add_first(std::function<void()> f) {
    list_.insert(list_.begin(), entry{next_, std::move(f)});
    return next_++;
}

hooks::id hooks::add_last(std::function<void()> f) {
    list_.push_back(entry{next_, std::move(f)});
    return next_++;
}

void hooks::remove(id h) noexcept {
    list_.erase(std::remove_if(list_.begin(), list_.end(), [h](const entry& e) { return e.key == h; }), list_.end());
}

void hooks::run() {
    if (list_.empty()) return;
    // A hook may add or remove hooks: run a snapshot of the keys, skipping removed ones.
    std::vector<id> keys;
    keys.reserve(list_.size());
    for (const entry& e : list_) keys.push_back(e.key);
    for (id k : keys) {
        auto it = std::find_if(list_.begin(), list_.end(), [k](const entry& e) { return e.key == k; });
        if (it == list_.end()) continue;
        auto f = it->f;  // the hook may remove itself while running
        f();
    }
}

double loop_stats::submitted_per_iteration() const noexcept {
    return iterations == 0 ? 0.0 : static_cast<double>(submitted) / static_cast<double>(iterations);
}
double loop_stats::completions_per_iteration() const noexcept {
    return iterations == 0 ? 0.0 : static_cast<double>(completions) / static_cast<double>(iterations);
}
std::string loop_stats::to_string() const {
    std::string s = fmt::format("lwt ({}): {} iterations, {} completions ({:.2f} per iteration), {:.2f} submissions per iteration, "
                                "{} operations and {} timers pending",
                                engine, iterations, completions, completions_per_iteration(), submitted_per_iteration(),
                                live_operations, live_timers);
    if (timed)
        s += fmt::format(", longest iteration {:.3f} ms, {} stalls", static_cast<double>(longest_iteration.count()) / 1e6, stalls);
    return s;
}

loop_stats stats() {
    auto& e = lwt::detail::io_engine::current();
    const auto& m = e.counters();
    loop_stats s;
    s.iterations = m.iterations;
    s.submitted = m.submitted;
    s.completions = m.completions;
    s.live_operations = e.live_operations();
    s.live_timers = e.timer_count();
    s.timed = e.timed();
    s.longest_iteration = std::chrono::nanoseconds(m.longest_iteration_ns);
    s.stalls = m.stalls;
    s.engine = e.id();
    return s;
}

void set_stall_threshold(std::chrono::nanoseconds t) {
    if (t.count() < 0) throw std::invalid_argument("lwt::main::set_stall_threshold: negative duration");
    lwt::detail::io_engine::current().set_stall_threshold(t.count());
}

void record_coroutines(bool on) { detail::set_process_recording(on); }

void dump(std::FILE* out) {
    std::string text;
    if (!(detail::ctx.tracing & detail::record_coroutines)) {
        text = "lwt: dump: coroutines are not recorded on this thread (lwt::main::record_coroutines(), "
               "dump_on_signal or LWT_TRACE turn it on)\n";
    } else {
        const auto n = detail::suspended_coroutines().size();
        text = fmt::format("lwt: dump: {} suspended coroutine{}; {}\n", n, n == 1 ? "" : "s", stats().to_string()) +
               detail::dump_suspended();
    }
    std::fwrite(text.data(), 1, text.size(), out);
    std::fflush(out);
}

unix_::signal_handler_id dump_on_signal(int signum) {
    record_coroutines(true);
    return detail::on_signal_in_background(signum, [](int) { dump(stderr); });
}

hooks& enter_iter_hooks() { return detail::lazily(detail::enter_hooks); }
hooks& leave_iter_hooks() { return detail::lazily(detail::leave_hooks); }

void at_exit(std::function<promise<void>()> f) {
    lwt::detail::register_exit_hook([f = std::move(f)] {
        // A program may exit from inside run (std::exit in a handler): that run never
        // returns, so the hook runs in a loop of its own rather than fail as a nested run.
        detail::running = false;
        try {
            run(f);
        } catch (const std::exception& e) {
            fmt::print(stderr, "lwt: an at_exit hook failed: {}\n", e.what());
        }
    });
}

}  // namespace lwt::main
