// Lwt_timeout: an action to run once a duration has passed, which can be stopped, restarted
// and given a new duration -- the idle or keep-alive timeout that each request resets.
//
//     lwt::timeout_timer idle(30.0, [&] { lwt::io::abort(ic); });  // not running yet
//     idle.start();                    // fires 30 s from now...
//     ... on every request: idle.start();   // ...from the last start
//     idle.stop();                     // never fires
//
// Beyond Lwt, which counts whole seconds on a shared one-second wheel: any duration (a
// double of seconds or a std::chrono::duration), on the loop's timer heap. The action runs on
// the loop that started the timeout, as a callback (a resolution of its own: docs/semantics.md
// rule 9): it may start, stop or change this timeout, or destroy it. An exception from it goes
// to the handler of set_exn_handler, by default to lwt::async_exception_hook (as in Lwt).
//
// Move-only (a moved-from one may only be destroyed or assigned); destroying a running timeout
// stops it. A timeout belongs to one loop (rule 13).
//
// Named lwt::timeout_timer, not lwt::timeout as the naming rule would have it: with `using
// namespace lwt;`, a class lwt::timeout makes every `timeout` of the program ambiguous -- the
// README's own request_timeout sample has a function of that name.
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/time.hpp>

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

namespace lwt {

class LWT_EXPORT timeout_timer {
public:
    // Lwt_timeout.create: not running until start(). A duration that is not positive throws
    // std::invalid_argument.
    template <unix_::duration_like D>
    timeout_timer(D duration, std::function<void()> action)
        : timeout_timer(detail::to_ns(duration, "timeout_timer"), std::move(action)) {}
    template <unix_::duration_like D>
    static timeout_timer create(D duration, std::function<void()> action) {
        return timeout_timer(duration, std::move(action));
    }
    timeout_timer(timeout_timer&&) noexcept = default;
    timeout_timer& operator=(timeout_timer&& o) noexcept;
    timeout_timer(const timeout_timer&) = delete;
    timeout_timer& operator=(const timeout_timer&) = delete;
    ~timeout_timer();

    // Runs the action one duration from now; a running timeout starts again from now.
    void start();
    // The action will not run (until the next start). Does nothing if not running.
    void stop() noexcept;
    // Lwt_timeout.change: the new duration; a running timeout starts again from now with it.
    template <unix_::duration_like D>
    void change(D duration) {
        change_ns(detail::to_ns(duration, "timeout_timer::change"));
    }
    // Started and not yet fired or stopped.
    bool is_running() const noexcept;

    // Lwt_timeout.set_exn_handler: what an action's exception goes to (process-wide; set it
    // before the loops start). Empty: lwt::async_exception_hook.
    static void set_exn_handler(std::function<void(std::exception_ptr)> handler);

private:
    struct state;
    timeout_timer(std::int64_t ns, std::function<void()> action);
    void change_ns(std::int64_t ns);
    std::shared_ptr<state> s_;  // shared with the callback of the running timer
};

}  // namespace lwt
