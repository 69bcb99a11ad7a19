// Lwt_switch: a scope for resources, turned off once.
//
// Hooks registered with add_hook run when the switch is turned off: all started at once, in
// reverse registration order; turn_off waits for all and fails with the first failure in
// time. Beyond Lwt, a promise can be attached (attach(p)): turning the switch off cancels
// it -- the structured scope Lwt users ask for. A switch_ is a cheap copyable handle.
#pragma once

#include <lwt/promise.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt {

// Lwt_switch.Off.
struct LWT_EXPORT switch_off : std::exception {
    const char* what() const noexcept override;
};

class LWT_EXPORT switch_ {
public:
    using hook = std::function<promise<void>()>;

    switch_() : s_(std::make_shared<state>()) {}

    bool is_on() const noexcept { return s_->on; }
    // Throws lwt::switch_off when the switch is off.
    void check() const {
        if (!s_->on) throw switch_off();
    }

    // Runs h when the switch is turned off; throws lwt::switch_off if it already is.
    void add_hook(hook h) {
        check();
        s_->hooks.push_back(std::move(h));
    }
    // add_hook, or -- the switch being off -- h() at once (its promise is returned).
    promise<void> add_hook_or_exec(hook h) {
        if (!s_->on) return detail::invoke_to_promise(h);
        s_->hooks.push_back(std::move(h));
        return return_();
    }

    // Cancels p when the switch is turned off (at once if it is off). Returns p.
    template <class T>
    promise<T> attach(promise<T> p) {
        if (!s_->on) {
            cancel(p);
            return p;
        }
        if (p.is_pending()) {
            std::size_t id = s_->next_attached++;
            s_->attached.push_back({id, [p]() mutable { cancel(p); }});
            std::weak_ptr<state> weak = s_;
            on_termination(p, [weak, id] {
                if (auto st = weak.lock()) st->forget(id);
            });
        }
        return p;
    }

    // Turns the switch off: cancels the attached promises, then starts every hook, most
    // recent first, and waits for all. Turning off an off switch is a fulfilled promise.
    promise<void> turn_off();

    // Lwt_switch.with_switch: f(sw) with a fresh switch, turned off when f's promise settles
    // (whatever its outcome); gives f's outcome, or the hooks' failure if f succeeded.
    template <class F>
    static auto with_switch(F f) {
        using R = lwt::detail::as_promise_t<std::invoke_result_t<F&, switch_>>;
        static_assert(detail::is_promise_v<R>, "lwt::switch_::with_switch: f must return an lwt::promise");
        return with_switch_impl<detail::promise_value_t<R>>(std::move(f));
    }

private:
    struct state {
        bool on = true;
        std::vector<hook> hooks;
        std::size_t next_attached = 0;
        std::vector<std::pair<std::size_t, std::function<void()>>> attached;
        void forget(std::size_t id) {
            for (auto it = attached.begin(); it != attached.end(); ++it)
                if (it->first == id) {
                    attached.erase(it);
                    return;
                }
        }
    };

    template <class T, class F>
    static promise<T> with_switch_impl(F f) {
        switch_ sw;
        std::optional<promise<T>> p;
        std::exception_ptr err;
        try {
            p.emplace(f(sw));
            co_await detail::settled(*p);
        } catch (...) {
            err = std::current_exception();
        }
        co_await sw.turn_off();  // its failure wins over f's success
        if (err) std::rethrow_exception(err);
        co_return co_await std::move(*p);
    }

    std::shared_ptr<state> s_;
};

}  // namespace lwt
