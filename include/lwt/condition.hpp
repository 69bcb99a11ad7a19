// Lwt_condition: waiting for a value (or just a signal) from someone else.
//
// wait() waits for the next signal or broadcast; signal(v) wakes the oldest waiter (and is
// lost when nobody waits); broadcast(v) wakes them all; broadcast_exn(e) rejects them all.
// wait(m) unlocks m while waiting and locks it again before resuming -- also when the wait
// is cancelled or rejected. Waits are cancelable.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/mutex.hpp>
#include <lwt/promise.hpp>

#include <exception>
#include <memory>
#include <utility>
#include <vector>

namespace lwt {

template <class T = void>
class condition {
public:
    condition() : s_(std::make_shared<state>()) {}

    promise<T> wait() { return s_->waiters.push(); }
    promise<T> wait(mutex& m) { return wait_locked(m, wait_unlocking(m)); }

    // Wakes the oldest waiter with v (nothing happens when nobody waits).
    template <class... V>
    void signal(V&&... v) {
        if (auto* e = s_->waiters.pop()) queue::fulfil(e, std::forward<V>(v)...);
    }
    // Wakes every waiter with v.
    template <class... V>
    void broadcast(const V&... v) {
        for (auto* e : take_all()) queue::fulfil(e, v...);
    }
    // Rejects every waiter with e (an exception_ptr or an exception object).
    template <class E>
    void broadcast_exn(E&& e) {
        auto ex = detail::to_exception_ptr(std::forward<E>(e));
        for (auto* w : take_all()) queue::fail(w, ex);
    }

private:
    using queue = detail::waitq<T>;
    struct state {
        queue waiters;
    };

    // Every waiter at the time of the call (those that wait meanwhile are not woken).
    std::vector<typename queue::entry*> take_all() {
        std::vector<typename queue::entry*> out;
        while (auto* e = s_->waiters.pop()) out.push_back(e);
        return out;
    }

    // Queued first, then the mutex is released (so a signal sent right after the unlock is
    // not lost).
    promise<T> wait_unlocking(mutex& m) {
        auto p = wait();
        m.unlock();
        return p;
    }

    static promise<T> wait_locked(mutex m, promise<T> p) {
        std::exception_ptr err;
        std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> v;
        try {
            if constexpr (std::is_void_v<T>) {
                co_await p;
                v.emplace(true);
            } else {
                v.emplace(co_await std::move(p));
            }
        } catch (...) {
            err = std::current_exception();
        }
        co_await no_cancel(m.lock());  // re-locked in every case before resuming
        if (err) std::rethrow_exception(err);
        if constexpr (!std::is_void_v<T>) co_return std::move(*v);
    }

    std::shared_ptr<state> s_;
};

}  // namespace lwt
