// A loop per core: n loops on n threads, shared-nothing, talking only by messages.
//
// Each loop is the single-threaded loop of main::run; promises, resolvers, channels and
// engines belong to the loop that made them (docs/semantics.md rule 13, per loop), and loops
// exchange work only through post(). How messages travel and wake a loop, and how loops end:
// detail/cross_loop.hpp and docs/architecture.md.
//
//   lwt::loops::run(2, [](std::size_t i) -> lwt::promise<void> {
//       if (i == 0) std::cout << co_await lwt::loops::post(1, [] { return 42; });
//       co_return;
//   });
#pragma once

#include <lwt/detail/cross_loop.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/fd.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt::loops {

// A request (post, hand_off) sent to a loop that has ended (its loops::run is returning).
struct LWT_EXPORT loop_ended : std::exception {
    loop_ended() noexcept = default;
    explicit loop_ended(std::size_t index) noexcept;
    const char* what() const noexcept override;
    std::size_t index = 0;  // the loop that refused it

private:
    char msg_[64] = "lwt::loops::loop_ended";
};

struct run_options {
    // Pins loop i to the i-th CPU the process may use (modulo their number); the calling
    // thread's affinity is restored when run returns.
    bool pin = false;
};

// This loop's index (0 outside loops::run) and the number of loops (1 outside loops::run).
LWT_EXPORT std::size_t index() noexcept;
LWT_EXPORT std::size_t count() noexcept;
// The CPUs this process may run on (sched_getaffinity), in order: loop i of a pinned run
// goes to usable_cpus()[i % size]. Their number (at least 1) is run's default n.
LWT_EXPORT std::vector<int> usable_cpus();
LWT_EXPORT std::size_t available_cpus() noexcept;

LWT_EXPORT void run_erased(std::size_t n, std::function<promise<void>(std::size_t)> f, run_options o);

// Runs n loops on n threads (loop 0 on the calling thread), each calling its own copy of f
// with its index (a move-only f is not copied: the loops call the one f at once, so its
// call must be safe from several threads) and running until the promise it returned
// settles; returns when all have.
// A loop whose promise has settled keeps serving posts until run returns. If one fails, the
// others are cancelled and run rethrows the first failure. n == 0 throws
// std::invalid_argument; a run inside a running loop (main::run or loops::run) throws
// std::logic_error. Inside run, a loop waiting for messages is never "unable to settle"
// (rule 16 is checked by main::run only).
template <class F>
    requires std::is_invocable_v<F&, std::size_t>
void run(std::size_t n, F f, run_options o = {}) {
    using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, std::size_t>>;
    static_assert(std::is_same_v<R, promise<void>>, "lwt::loops::run: f(i) must return lwt::promise<void>");
    if constexpr (std::is_copy_constructible_v<F>) {
        run_erased(n, [f = std::move(f)](std::size_t i) -> promise<void> { return f(i); }, o);
    } else {
        auto shared = std::make_shared<F>(std::move(f));
        run_erased(n, [shared](std::size_t i) -> promise<void> { return (*shared)(i); }, o);
    }
}

// run with one loop per CPU the process may use.
template <class F>
    requires std::is_invocable_v<F&, std::size_t>
void run(F f, run_options o = {}) {
    run(available_cpus(), std::move(f), o);
}

// Runs f() on loop i (f returns T, or a promise<T> or operation, which is awaited there) and
// settles the returned promise on this loop with its value or exception. Cancelling the
// returned promise rejects it with lwt::canceled at once and cancels the work on loop i.
// f is moved to loop i and kept until what it returned has settled; it is destroyed on
// either loop (with the reply), so its captures must not belong to a loop (no promise, no
// channel: values, shared_ptrs, references to what outlives the post). i == index() runs
// f on this loop, at its next iteration. A loop that has ended rejects the post with
// loop_ended; i >= count() throws std::invalid_argument.
template <class F>
    requires std::is_invocable_v<F&>
auto post(std::size_t i, F f) {
    using R0 = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
    using T = typename lwt::detail::awaited<R0, lwt::detail::is_promise_v<R0>>::type;
    using D = std::decay_t<F>;
    lwt::detail::loop_slot& to = lwt::detail::loop_at(i, "lwt::loops::post");
    lwt::detail::loop_slot& from = lwt::detail::this_loop();
    // (Both allocations before anything is counted: a throw leaves nothing behind.)
    auto cell = std::make_unique<lwt::detail::call_cell<T, D>>();
    auto* call = new lwt::detail::post_call<T, D>(from, to, cell.get(), std::move(f));
    cell->call = call;
    lwt::detail::expect_reply();
    if (!lwt::detail::send_request(to, &call->journey)) {
        call->outcome.error = lwt::detail::loop_ended_error(i);
        lwt::detail::post_call<T, D>::on_reply(&call->journey);  // rejects the cell now
    }
    return lwt::detail::adopt<T>(cell.release());
}

// Hands descriptor fd to loop i: this loop forgets it (its engine keeps nothing about it),
// and f(fd) runs on loop i, where channels over it are made (as post). If loop i has ended,
// the descriptor is closed and the promise rejected with loop_ended.
template <class F>
    requires std::is_invocable_v<F&, unix_::file_descr>
auto hand_off(std::size_t i, unix_::file_descr fd, F f) {
    if (!fd.is_open()) throw std::invalid_argument("lwt::loops::hand_off: closed descriptor");
    lwt::detail::loop_at(i, "lwt::loops::hand_off");
    lwt::detail::forget_here(fd.fd());
    // The number travels; whoever destroys the message without handing it over closes it.
    struct travelling {
        int fd;
        explicit travelling(int n) noexcept : fd(n) {}
        travelling(travelling&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
        ~travelling() {
            if (fd >= 0) lwt::detail::close_quietly(fd);
        }
    };
    return post(i, [n = travelling(fd.release()), f = std::move(f)]() mutable {
        return f(unix_::file_descr(std::exchange(n.fd, -1)));
    });
}

}  // namespace lwt::loops
