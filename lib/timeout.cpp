// Lwt_timeout. See include/lwt/timeout.hpp.
//
// A running timeout is a sleep on the loop's timer heap with a callback (on_success) that
// holds the state: the state lives while the timer may still call it, even after the
// `timeout_timer` object is gone. stop() cancels the sleep (its callback then never runs, and lets
// the state go); start() stops, then sleeps anew.
#include <lwt/timeout.hpp>

#include <fmt/core.h>

#include <optional>
#include <stdexcept>
#include <utility>

namespace lwt {

namespace {
std::function<void(std::exception_ptr)> exn_handler;

std::int64_t positive(std::int64_t ns, const char* who) {
    if (ns <= 0) throw std::invalid_argument(fmt::format("lwt::{}: the duration must be positive", who));
    return ns;
}
}  // namespace

struct timeout_timer::state {
    std::int64_t ns;
    std::function<void()> action;
    std::optional<promise<void>> sleeping;  // the running timer (pending while running)
};

timeout_timer::timeout_timer(std::int64_t ns, std::function<void()> action)
    : s_(std::make_shared<state>(state{positive(ns, "timeout_timer"), std::move(action), std::nullopt})) {}

timeout_timer& timeout_timer::operator=(timeout_timer&& o) noexcept {
    if (this != &o) {
        stop();
        s_ = std::move(o.s_);
    }
    return *this;
}

timeout_timer::~timeout_timer() { stop(); }

void timeout_timer::start() {
    stop();
    s_->sleeping.emplace(detail::sleep_ns(s_->ns));
    on_success(*s_->sleeping, [s = s_] {
        // Fired: no longer running (the sleep is fulfilled). The action may restart, stop or
        // destroy the timeout; `s` keeps the state, and so the action, alive meanwhile.
        try {
            s->action();
        } catch (...) {
            if (!exn_handler) throw;  // (to async_exception_hook, as any callback's)
            exn_handler(std::current_exception());
        }
    });
}

void timeout_timer::stop() noexcept {
    if (s_ && s_->sleeping && s_->sleeping->is_pending()) lwt::cancel(*s_->sleeping);
}

bool timeout_timer::is_running() const noexcept { return s_ && s_->sleeping && s_->sleeping->is_pending(); }

void timeout_timer::change_ns(std::int64_t ns) {
    s_->ns = positive(ns, "timeout_timer::change");
    if (is_running()) start();
}

void timeout_timer::set_exn_handler(std::function<void(std::exception_ptr)> handler) { exn_handler = std::move(handler); }

}  // namespace lwt
