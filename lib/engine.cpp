// Lwt_engine.
#include <lwt/detail/engine.hpp>
#include <lwt/engine.hpp>

namespace lwt::engine {

std::string_view id() { return detail::io_engine::current().id(); }

std::size_t receive_buffers_lent() noexcept {
    detail::io_engine* e = detail::io_engine::current_if_any();
    return e == nullptr ? 0 : e->buffers_lent();
}

bool receives_bundled() {
    detail::io_engine& e = detail::io_engine::current();
    e.buffers();  // (the engine decides as it adopts its pool)
    return e.receives_bundled();
}

bool receive_buffers_shared() {
    detail::io_engine& e = detail::io_engine::current();
    e.buffers();
    return e.receive_buffers_shared();
}

std::size_t bundled_receives() noexcept {
    detail::io_engine* e = detail::io_engine::current_if_any();
    return e == nullptr ? 0 : e->bundled_receives();
}

std::size_t live_operations() noexcept {
    detail::io_engine* e = detail::io_engine::current_if_any();
    return e == nullptr ? 0 : e->live_operations() + e->jobs_outstanding.load(std::memory_order_acquire);
}

std::size_t pending_timers() noexcept {
    detail::io_engine* e = detail::io_engine::current_if_any();
    return e == nullptr ? 0 : e->timer_count();
}

}  // namespace lwt::engine
