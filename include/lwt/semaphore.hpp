// A counting semaphore: at most n holders at once -- at most 64 downloads, 8 connections to
// a database. Beyond Lwt (whose users build it on a mutex and a condition); tokio's and
// Seastar's semaphore.
//
//     lwt::semaphore downloads(64);
//     co_await downloads.with_permit([&] { return fetch(url); });   // at most 64 at a time
//
// acquire() is immediate while a permit is free and nobody waits; otherwise it waits, FIFO
// (a later acquire never overtakes a waiting one, so a waiter for a permit is not starved),
// and is cancelable (a cancelled acquire leaves the queue and holds nothing). release() hands
// the permit to the oldest waiter, which holds it from then on (wakeup_later semantics, as
// lwt::mutex). A cheap copyable handle, like lwt::mutex; it belongs to one loop (rule 13).
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace lwt {

class LWT_EXPORT semaphore {
public:
    explicit semaphore(std::size_t permits) : s_(std::make_shared<state>()) { s_->available = permits; }

    // One permit, now or once released to this waiter.
    promise<void> acquire() {
        if (s_->available > 0 && s_->waiters.empty()) {
            --s_->available;
            return return_();
        }
        return s_->waiters.push();
    }

    // One permit if one is free and nobody waits; false otherwise (nothing is held then).
    bool try_acquire() noexcept {
        if (s_->available == 0 || !s_->waiters.empty()) return false;
        --s_->available;
        return true;
    }

    // Gives back n permits: the oldest waiters get them first.
    void release(std::size_t n = 1) {
        for (; n > 0; --n) {
            if (auto* e = s_->waiters.pop())
                detail::waitq<void>::fulfil(e);  // handed over: it holds the permit now
            else
                ++s_->available;
        }
    }

    // Permits free now, and acquires waiting.
    std::size_t available() const noexcept { return s_->available; }
    std::size_t waiting() const noexcept { return s_->waiters.size(); }

    // f() while holding a permit, released when f's promise settles -- also when f fails or
    // is cancelled. Cancelled while waiting for the permit, f never runs.
    template <class F>
    auto with_permit(F f) {
        using R = lwt::detail::as_promise_t<std::invoke_result_t<F&>>;
        static_assert(detail::is_promise_v<R>, "lwt::semaphore::with_permit: f must return an lwt::promise");
        return detail::while_held<detail::promise_value_t<R>>(acquire(), [s = *this]() mutable { s.release(); }, std::move(f));
    }

private:
    struct state {
        std::size_t available = 0;
        detail::waitq<void> waiters;
    };

    std::shared_ptr<state> s_;
};

}  // namespace lwt
