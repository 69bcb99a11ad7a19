// Lwt_switch.
#include <lwt/switch.hpp>

namespace lwt {

const char* switch_off::what() const noexcept { return "lwt::switch_off"; }

promise<void> switch_::turn_off() {
    if (!s_->on) return return_();
    s_->on = false;
    auto attached = std::move(s_->attached);
    s_->attached.clear();
    for (auto& a : attached) a.second();
    auto hooks = std::move(s_->hooks);
    s_->hooks.clear();
    std::vector<promise<void>> running;
    running.reserve(hooks.size());
    for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) running.push_back(detail::invoke_to_promise(*it));
    return join(std::move(running));
}

}  // namespace lwt
