// Lwt_mutex: a cooperative lock.
//
// lock() is immediate when the mutex is free; otherwise it waits, FIFO, and is cancelable
// (a cancelled lock leaves the queue). unlock() hands the mutex to the oldest waiter, which
// it stays locked for (wakeup_later semantics); unlocking an unlocked mutex does nothing.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>

#include <memory>
#include <type_traits>
#include <utility>

namespace lwt {

class LWT_EXPORT mutex {
public:
    mutex() : s_(std::make_shared<state>()) {}

    promise<void> lock() {
        if (!s_->locked) {
            s_->locked = true;
            return return_();
        }
        return s_->waiters.push();
    }

    void unlock() {
        if (!s_->locked) return;
        if (auto* e = s_->waiters.pop()) {
            detail::waitq<void>::fulfil(e);  // handed over: stays locked
        } else {
            s_->locked = false;
        }
    }

    bool is_locked() const noexcept { return s_->locked; }
    // No waiter is queued.
    bool is_empty() const noexcept { return s_->waiters.empty(); }

    // Lwt_mutex.with_lock: f() once the mutex is held, then unlock -- also when f fails or is
    // cancelled. Cancelled while waiting for the mutex, f never runs and nothing is unlocked.
    template <class F>
    auto with_lock(F f) {
        using R = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
        static_assert(detail::is_promise_v<R>, "lwt::mutex::with_lock: f must return an lwt::promise");
        return detail::while_held<detail::promise_value_t<R>>(lock(), [m = *this]() mutable { m.unlock(); }, std::move(f));
    }

private:
    struct state {
        bool locked = false;
        detail::waitq<void> waiters;
    };

    std::shared_ptr<state> s_;
};

}  // namespace lwt
