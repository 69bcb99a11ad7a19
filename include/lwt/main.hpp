// Lwt_main: running the loop of this thread until a promise settles.
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/signal.hpp>

#include <chrono>
#include <cstdio>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>
#include <type_traits>
#include <utility>

namespace lwt::detail {
// Drives this thread's loop until `s` settles (docs/semantics.md rule 9, rule 16). Throws std::logic_error when
// called from inside a run, or when nothing can settle `s` any more.
LWT_EXPORT void run_until(cell_base* s);
// Marks the thread as running a loop for the scope (nested runs throw std::logic_error).
// Prints "<program>: <what the exception says>" on stderr, as one line; returns 2.
LWT_EXPORT int report_fatal(std::exception_ptr e) noexcept;
struct LWT_EXPORT run_scope {
    run_scope();
    ~run_scope();
    run_scope(const run_scope&) = delete;
    run_scope& operator=(const run_scope&) = delete;
};

// The outcome of a settled promise as run returns it: its value (moved out when T cannot be
// copied or nobody else holds p), or its rejection rethrown.
template <class T>
T outcome(promise<T>& p) {
    if constexpr (std::is_void_v<T>) {
        p.value();
    } else {
        const T& v = p.value();
        if constexpr (!copyable_v<T>)
            return std::move(const_cast<T&>(v));
        else
            return v;
    }
}
}  // namespace lwt::detail

namespace lwt::main {

// Lwt_main.run p: runs the loop until p settles; returns its value or rethrows. A settled p
// returns without iterating. A move-only value is moved out.
template <class T>
T run(promise<T> p) {
    {
        detail::run_scope scope;
        detail::run_until(lwt::detail::state_of(p));
    }
    return detail::outcome(p);
}

// run(op) for an operation that converts to a promise (lwt::unix_::read(...), ...): a
// temporary is converted; a named one is awaited where it is (as co_await op would).
template <lwt::detail::converts_to_promise A>
auto run(A&& a) {
    using P = lwt::detail::as_promise_t<A>;
    if constexpr (std::is_lvalue_reference_v<A>) {
        auto await_it = [&a]() -> P { co_return co_await a; };
        return run(await_it);
    } else {
        return run(P(std::forward<A>(a)));
    }
}

// Lwt_main.run (f ()): calls f inside the run, so f's synchronous work already counts as
// running (a nested run inside f throws). f is kept alive until its promise settles.
template <class F>
    requires std::is_invocable_v<F&>
auto run(F&& f) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<std::decay_t<F>&>>;
    static_assert(lwt::detail::is_promise_v<R>, "lwt::main::run: f must return an lwt::promise");
    using T = lwt::detail::promise_value_t<R>;
    std::optional<promise<T>> p;
    {
        detail::run_scope scope;
        p.emplace(lwt::detail::invoke_to_promise(std::forward<F>(f)));
        detail::run_until(lwt::detail::state_of(*p));
    }
    return detail::outcome(*p);
}

// For a program's main, which should end with a message and a status rather than in
// std::terminate (beyond Lwt; OCaml prints an uncaught exception and exits with 2):
//   int main() { return lwt::main::run_program([]() -> lwt::promise<void> { ... }); }
// Runs a promise, or calls f -- running the promise it returns as run(f) does, or taking its
// plain result (a main that calls loops::run) -- and returns the exit status: the int it gave,
// or 0. Any failure (a rejection, a throw) is printed as one line, "<program>: <what()>", on
// stderr, and the status is 2.
template <class T>
int run_program(promise<T> p) noexcept {
    static_assert(std::is_void_v<T> || std::is_same_v<T, int>, "lwt::main::run_program: the promise gives void or int");
    try {
        if constexpr (std::is_void_v<T>) {
            run(std::move(p));
            return 0;
        } else {
            return run(std::move(p));
        }
    } catch (...) {
        return detail::report_fatal(std::current_exception());
    }
}

template <class F>
    requires std::is_invocable_v<F&>
int run_program(F&& f) noexcept {
    using R = std::invoke_result_t<std::decay_t<F>&>;
    try {
        if constexpr (lwt::detail::promise_like_v<R>) {
            using T = lwt::detail::promise_value_t<lwt::detail::as_promise_t<R>>;
            static_assert(std::is_void_v<T> || std::is_same_v<T, int>, "lwt::main::run_program: f's promise gives void or int");
            if constexpr (std::is_void_v<T>) {
                run(std::forward<F>(f));
                return 0;
            } else {
                return run(std::forward<F>(f));
            }
        } else {
            static_assert(std::is_void_v<R> || std::is_same_v<R, int>, "lwt::main::run_program: f returns void, int or a promise of one");
            if constexpr (std::is_void_v<R>) {
                f();
                return 0;
            } else {
                return f();
            }
        }
    } catch (...) {
        return detail::report_fatal(std::current_exception());
    }
}

// Lwt_main.yield: resumes on the next loop iteration (lwt::pause()).
inline promise<void> yield() { return lwt::pause(); }

// Lwt_main.at_exit: f() is run (with run) when this thread exits -- for the main thread, when
// the program exits -- after the hooks registered later (LIFO). f is kept until then.
LWT_EXPORT void at_exit(std::function<promise<void>()> f);

// Lwt_main.Enter_iter_hooks / Leave_iter_hooks: functions called at the start and at the end
// of every loop iteration of this thread.
class LWT_EXPORT hooks {
public:
    using id = std::uint64_t;
    id add_first(std::function<void()> f);
    id add_last(std::function<void()> f);
    void remove(id h) noexcept;
    void run();  // calls each, in order (a hook may remove hooks meanwhile)

private:
    struct entry {
        id key;
        std::function<void()> f;
    };
    std::vector<entry> list_;
    id next_ = 1;
};
LWT_EXPORT hooks& enter_iter_hooks();
LWT_EXPORT hooks& leave_iter_hooks();

// What this thread's loop has done (beyond Lwt): counted always, at the cost of an increment
// each; the iterations' durations only while a stall threshold is set.
struct LWT_EXPORT loop_stats {
    std::uint64_t iterations = 0;    // loop iterations: each waits in the kernel once (io_uring_enter, epoll_wait)
    std::uint64_t submitted = 0;     // io_uring: submissions the kernel took; epoll: operations that had to wait
    std::uint64_t completions = 0;   // operations completed
    std::size_t live_operations = 0; // pending now
    std::size_t live_timers = 0;     // sleeps and timeouts pending now
    bool timed = false;              // a stall threshold is set: the two below are measured
    std::chrono::nanoseconds longest_iteration{0};  // the longest busy part of an iteration
    std::uint64_t stalls = 0;        // iterations busier than the threshold
    const char* engine = "";         // "uring" or "epoll"

    double submitted_per_iteration() const noexcept;  // submissions per kernel wait
    double completions_per_iteration() const noexcept;
    // One line: "lwt (uring): 1024 iterations, 1900 completions (1.86 per iteration), ..."
    std::string to_string() const;
};
LWT_EXPORT loop_stats stats();

// Stall detection: from now on, an iteration of this thread's loop that stays busy longer
// than `t` (running completions, timers and what they start, without returning to the
// kernel) prints one line on stderr: how long it ran, and its longest step -- the operation
// whose completion ran longest and the coroutine that completion resumed. Zero turns it off.
// The environment variable LWT_STALL_MS sets it (in milliseconds) when a loop starts.
LWT_EXPORT void set_stall_threshold(std::chrono::nanoseconds t);

// What the loop waits on (beyond Lwt). record_coroutines() makes each coroutine created from
// then on, on this thread and on threads whose loops start later (loops::run), note where it
// suspends (the co_await's function and file:line, from the debug information) and when.
// Off (the default), a coroutine costs one test more to make and nothing more to suspend.
// LWT_TRACE and dump_on_signal turn it on too.
LWT_EXPORT void record_coroutines(bool on = true);
// Prints every recorded coroutine of this thread that is suspended, as the tree of who awaits
// whom: each with its await point and how long it has waited, and under it what it awaits --
// the coroutines, combinators, I/O operations (kind and descriptor), sleeps (when due),
// queues (mutex, condition, stream...) and the promises only a resolver can settle.
// Addresses are resolved with addr2line where it is installed.
LWT_EXPORT void dump(std::FILE* out = stderr);
// From now on, the signal `signum` makes this thread's loop print dump() on stderr
// (`kill -USR1 <pid>` on a program that hangs). Turns record_coroutines on. The handler does
// not keep run() waiting. Disable it with unix_::disable_signal_handler. LWT_DUMP_SIGNAL=USR1
// in the environment installs it on each thread's loop at its first run, without a change to
// the program.
LWT_EXPORT unix_::signal_handler_id dump_on_signal(int signum);

}  // namespace lwt::main
