// iter_p / iter_n over anything pulled one element at a time (lwt::stream, lwt::seq): f is
// started on each element as it arrives, with at most `max` of them running at once.
#pragma once

#include <lwt/promise.hpp>

#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

namespace lwt::detail {

// pull() gives promise<std::optional<T>> (std::nullopt: the end). Waits for every f it
// started; the first failure (in the order they were reaped) wins, after all have settled.
template <class Pull, class F>
promise<void> iter_n_pulled(Pull pull, F f, std::size_t max) {
    std::vector<promise<void>> running;
    std::exception_ptr first;
    auto reap = [&] {
        for (auto it = running.begin(); it != running.end();) {
            if (it->is_pending()) {
                ++it;
                continue;
            }
            if (!first && it->state() == lwt::state::rejected) first = it->exception();
            it = running.erase(it);
        }
    };
    while (auto v = co_await pull()) {
        running.push_back(invoke_to_promise([&f, &v] { return f(std::move(*v)); }));
        reap();
        while (running.size() >= max) {
            co_await settled(lwt::choose(running));
            reap();
        }
    }
    co_await join(running);
    reap();
    if (first) std::rethrow_exception(first);
}

}  // namespace lwt::detail
