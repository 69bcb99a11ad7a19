// The main loop of a thread (Lwt_main).
#include <lwt/detail/loop.hpp>
#include <lwt/main.hpp>

#include <stdexcept>

namespace lwt::main::detail {

namespace {
constinit LWT_TLS bool running = false;
}

run_scope::run_scope() {
    if (running) throw std::logic_error("lwt::main::run: called inside a running loop (nested run)");
    running = true;
}
run_scope::~run_scope() { running = false; }

void run_until(lwt::detail::state_base* s) {
    using namespace lwt::detail;
    if (!queue_empty()) drain_queue();
    while (s->pending()) {
        if (has_paused()) {
            wake_paused();
        } else {
            throw std::logic_error("lwt::main::run: the promise can never settle (nothing is pending)");
        }
        if (!queue_empty()) drain_queue();
    }
}

}  // namespace lwt::main::detail
