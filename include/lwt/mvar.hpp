// Lwt_mvar: a box for one value, for handing values between coroutines.
//
// put(v) fills an empty mvar (or hands v straight to the oldest waiting taker) and waits,
// FIFO, while it is full; take() empties it (or waits, FIFO, until a value comes); when a
// take empties a full mvar, the oldest waiting put gets in. Both are cancelable: a cancelled
// put does not deposit its value, a cancelled take takes nothing.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>

#include <memory>
#include <optional>
#include <utility>

namespace lwt {

template <class T>
class mvar {
public:
    mvar() : s_(std::make_shared<state>()) {}
    explicit mvar(T v) : mvar() { s_->value.emplace(std::move(v)); }

    promise<void> put(T v) {
        state& s = *s_;
        if (!s.value) {
            if (auto* e = s.takers.pop()) {  // a taker is waiting: straight to it
                detail::waitq<T>::fulfil(e, std::move(v));
            } else {
                s.value.emplace(std::move(v));
            }
            return return_();
        }
        return s.putters.push(std::optional<T>(std::move(v)));
    }

    promise<T> take() {
        if (auto v = take_available()) return return_value(std::move(*v));
        return s_->takers.push();
    }

    // The value if there is one (emptying the mvar), without waiting.
    std::optional<T> take_available() {
        state& s = *s_;
        if (!s.value) return std::nullopt;
        std::optional<T> out(std::move(*s.value));
        s.value.reset();
        if (auto* e = s.putters.pop()) {  // the oldest blocked put gets in
            s.value.emplace(std::move(*e->extra));
            detail::waitq<void, std::optional<T>>::fulfil(e);
        }
        return out;
    }

    bool is_empty() const noexcept { return !s_->value.has_value(); }

private:
    static promise<T> return_value(T v) {
        auto w = lwt::wait<T>();
        w.second.resolve(std::move(v));
        return std::move(w.first);
    }

    struct state {
        std::optional<T> value;
        detail::waitq<T> takers;
        detail::waitq<void, std::optional<T>> putters;
    };
    std::shared_ptr<state> s_;
};

}  // namespace lwt
