// tutorial_4_cancel: docs/tutorial.md, step 4 -- timeouts and cancellation. with_timeout
// bounds a piece of work; cancel() rejects a pending promise with lwt::canceled and reaches
// the operation it waits for; on_cancel runs clean-up; protected_ shields a promise.
//
//   try: build/samples/tutorial_4_cancel
#include <lwt/lwt.hpp>

#include <fmt/core.h>

using namespace std::chrono_literals;

lwt::promise<int> slow_answer() {
    co_await lwt::unix_::sleep(10s);
    co_return 42;
}

lwt::promise<void> program() {
    // 1. A timeout: the work is cancelled when the time is up.
    try {
        int v = co_await lwt::unix_::with_timeout(100ms, slow_answer);
        fmt::print("answer: {}\n", v);
    } catch (const lwt::unix_::timeout_error&) {
        fmt::print("timed out after 100 ms\n");
    }

    // 2. Cancelling by hand: the coroutine's pending co_await throws lwt::canceled.
    auto p = slow_answer();
    lwt::on_cancel(p, [] { fmt::print("clean-up ran\n"); });
    lwt::cancel(p);
    fmt::print("after cancel: rejected = {}\n", p.state() == lwt::state::rejected);

    // 3. protected_: cancelling the view leaves the work running.
    auto work = lwt::unix_::sleep(50ms);
    auto view = lwt::protected_(work);
    lwt::cancel(view);
    co_await work;
    fmt::print("the protected work finished anyway\n");
}

int main() { return lwt::main::run_program(program()); }
