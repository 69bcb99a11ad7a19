// Lwt_unix's time: sleeps are timer cells in the engine's heap (see detail/engine.hpp).
#include <lwt/detail/engine.hpp>
#include <lwt/unix/time.hpp>

#include <fmt/core.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace lwt::detail {

std::int64_t seconds_to_ns(double s, const char* who) {
    if (!(s >= 0) || std::isinf(s))
        throw std::invalid_argument(fmt::format("lwt::unix_::{}: invalid duration {}", who, s));
    double ns = s * 1e9;
    return ns >= 9.2e18 ? INT64_MAX / 2 : static_cast<std::int64_t>(std::ceil(ns));
}

namespace {

void cancel_timer(cancelable* c) noexcept {
    auto* t = static_cast<timer_node*>(static_cast<cell_base*>(c));
    if (t->index != timer_node::npos) {
        static_cast<io_engine*>(t->engine)->remove_timer(t);
        release(t);  // the heap's reference
    }
    reject_canceled(t);
}

void timer_cancel_fn(cancelable* self, cancel_walk& w, cell_base*) {
    auto* t = static_cast<timer_node*>(static_cast<cell_base*>(self));
    if (t->pending()) w.leaf(self, t, &cancel_timer);
}

}  // namespace

promise<void> sleep_until_ns(std::int64_t deadline_ns) {
    io_engine& e = io_engine::current();
    auto* t = new timer_node();
    t->destroy_fn = [](cell_base* s) noexcept { delete static_cast<timer_node*>(s); };
    t->cancel_fn = &timer_cancel_fn;
    t->maker = cell_base::made_by::timer;
    t->engine = &e;
    t->deadline = deadline_ns;
    t->refs = 2;  // the promise and the heap
    e.add_timer(t);
    return adopt<void>(t);
}

// Measured from the call, not from the loop's last wake-up (docs/semantics.md rule 15).
promise<void> sleep_ns(std::int64_t ns) { return sleep_until_ns(monotonic_ns() + ns); }

namespace {
promise<void> timeout_impl(promise<void> s) {
    co_await std::move(s);
    throw unix_::timeout_error();
}
}  // namespace

promise<void> timeout_ns(std::int64_t ns) { return timeout_impl(sleep_ns(ns)); }

}  // namespace lwt::detail
