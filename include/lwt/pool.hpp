// Lwt_pool: a bounded pool of reusable members (connections, buffers...).
//
// Members are created lazily, up to n; use(f) lends one to f and takes it back when f's
// promise settles. A member is validated before it is reused (not when fresh): an invalid
// one is disposed of and replaced. When f fails, check decides whether the member goes back
// (true) or is disposed of (false). Waiters for a member are served FIFO; waiting is
// cancelable. clear() disposes of the idle members now and of the lent ones when they come
// back.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>

#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace lwt {

template <class T>
class pool {
public:
    using make_fn = std::function<promise<T>()>;
    using validate_fn = std::function<promise<bool>(const T&)>;
    using check_fn = std::function<bool(const T&)>;
    using dispose_fn = std::function<promise<void>(T&)>;

    // Lwt_pool.create n ?validate ?check ?dispose create (n >= 1).
    pool(int n, make_fn make, validate_fn validate = {}, check_fn check = {}, dispose_fn dispose = {})
        : s_(std::make_shared<state>()) {
        if (n <= 0) throw std::invalid_argument("lwt::pool: size must be positive");
        if (!make) throw std::invalid_argument("lwt::pool: no make function");
        s_->max = static_cast<std::size_t>(n);
        s_->make = std::move(make);
        s_->validate = std::move(validate);
        s_->check = std::move(check);
        s_->dispose = std::move(dispose);
    }
    static pool create(int n, make_fn make, validate_fn validate = {}, check_fn check = {}, dispose_fn dispose = {}) {
        return pool(n, std::move(make), std::move(validate), std::move(check), std::move(dispose));
    }

    // Lwt_pool.use: f(member) with a member of the pool; gives f's outcome.
    template <class F>
    auto use(F f) {
        using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, T&>>;
        static_assert(detail::is_promise_v<R>, "lwt::pool::use: f must return an lwt::promise");
        return use_impl<detail::promise_value_t<R>>(s_, std::move(f));
    }

    // Lwt_pool.clear: disposes of the idle members; lent ones are disposed of on return.
    promise<void> clear() { return clear_impl(s_); }

    // Lwt_pool.wait_queue_length.
    std::size_t wait_queue_length() const noexcept { return s_->waiters.size(); }
    // Members in existence (idle or lent).
    std::size_t size() const noexcept { return s_->count; }

private:
    using member = std::shared_ptr<T>;
    using queue = detail::waitq<std::pair<member, std::size_t>>;
    struct state {
        std::size_t max = 1;
        std::size_t count = 0;
        std::size_t generation = 0;  // bumped by clear(): older members are disposed of on return
        make_fn make;
        validate_fn validate;
        check_fn check;
        dispose_fn dispose;
        std::deque<std::pair<member, std::size_t>> idle;
        queue waiters;
    };
    using sp = std::shared_ptr<state>;

    static promise<void> dispose_member(sp s, member m) {
        --s->count;
        if (s->dispose) co_await s->dispose(*m);
    }

    // A fresh member (counted before make runs; uncounted again if make fails).
    static promise<std::pair<member, std::size_t>> create_member(sp s) {
        ++s->count;
        try {
            T v = co_await detail::invoke_to_promise(s->make);
            co_return std::make_pair(std::make_shared<T>(std::move(v)), s->generation);
        } catch (...) {
            --s->count;
            throw;
        }
    }

    static promise<std::pair<member, std::size_t>> acquire(sp s) {
        for (;;) {
            std::pair<member, std::size_t> m;
            if (!s->idle.empty()) {
                m = std::move(s->idle.front());
                s->idle.pop_front();
            } else if (s->count < s->max) {
                co_return co_await create_member(s);
            } else {
                m = co_await s->waiters.push();
                if (!m.first) {  // a lent member was disposed of: our turn to create one
                    co_return co_await create_member(s);
                }
            }
            if (s->validate) {  // a member being reused (fresh ones returned above)
                bool ok = false;
                std::exception_ptr err;
                try {
                    ok = co_await s->validate(*m.first);
                } catch (...) {
                    err = std::current_exception();
                }
                if (!ok) {
                    co_await dispose_member(s, m.first);
                    if (err) std::rethrow_exception(err);
                    co_return co_await create_member(s);
                }
            }
            co_return m;
        }
    }

    // Gives a member back: to the oldest waiter, or to the idle list; disposes of it when the
    // pool was cleared since it was made, or when `keep` is false.
    static promise<void> release(sp s, std::pair<member, std::size_t> m, bool keep) {
        if (!keep || m.second != s->generation) {
            co_await dispose_member(s, m.first);
            // Room for one more: a waiter creates its own member.
            if (auto* e = s->waiters.pop()) queue::fulfil(e, std::pair<member, std::size_t>{});
            co_return;
        }
        if (auto* e = s->waiters.pop()) {
            queue::fulfil(e, std::move(m));
        } else {
            s->idle.push_back(std::move(m));
        }
    }

    template <class R, class F>
    static promise<R> use_impl(sp s, F f) {
        auto m = co_await acquire(s);
        std::exception_ptr err;
        std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> out;
        try {
            if constexpr (std::is_void_v<R>) {
                co_await f(*m.first);
                out.emplace(true);
            } else {
                out.emplace(co_await f(*m.first));
            }
        } catch (...) {
            err = std::current_exception();
        }
        bool keep = true;
        if (err && s->check) {
            try {
                keep = s->check(*m.first);
            } catch (...) {
                keep = false;
            }
        }
        co_await no_cancel(release(s, std::move(m), keep));
        if (err) std::rethrow_exception(err);
        if constexpr (!std::is_void_v<R>) co_return std::move(*out);
    }

    static promise<void> clear_impl(sp s) {
        ++s->generation;
        auto idle = std::move(s->idle);
        s->idle.clear();
        std::vector<promise<void>> disposals;
        for (auto& m : idle) disposals.push_back(dispose_member(s, m.first));
        co_await join(std::move(disposals));
    }

    sp s_;
};

}  // namespace lwt
