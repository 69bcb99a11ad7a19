// Lwt_throttle: a rate limiter per key -- at most `rate` passes a second for each key (a
// client address, a user), the excess waiting its turn, and no more than `max` waiting in all.
//
//     lwt::throttle<std::string> per_client(10, 100);    // 10 a second, 100 waiting at most
//     if (!co_await per_client.wait(peer.to_string())) refuse();   // too many waiting
//
// wait(key) is true at once while the key has passes left in the current second; otherwise it
// waits for a pass of a later second (oldest first) and is true then -- or false at once if
// `max` calls are waiting already. Every second the waiting calls of each key get up to
// `rate` passes, and a key without waiting calls leaves the table. As in Lwt, the seconds are
// counted from the first wait (a pass that was free at the end of one second counts in that
// second); waits are cancelable (a cancelled one leaves its queue).
//
// Lwt_throttle.Make(H) is lwt::throttle<Key, Hash, Equal>; `n` (the table's first size) is
// kept. A cheap copyable handle; it belongs to one loop (rule 13). The once-a-second pass
// runs only while some key is in the table.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/time.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace lwt {

template <class Key, class Hash = std::hash<Key>, class Equal = std::equal_to<Key>>
class throttle {
public:
    // Lwt_throttle.create ~rate ~max ~n: rate and max must be at least 1.
    throttle(std::size_t rate, std::size_t max, std::size_t n = 0) : s_(std::make_shared<state>(n)) {
        if (rate < 1 || max < 1) throw std::invalid_argument("lwt::throttle: rate and max must be at least 1");
        s_->rate = rate;
        s_->max = max;
    }

    promise<bool> wait(const Key& key) {
        auto& s = *s_;
        promise<bool> res = lwt::return_(true);
        auto it = s.table.find(key);
        if (it == s.table.end()) {
            s.table.try_emplace(key).first->second.consumed = 1;
        } else if (it->second.consumed < s.rate) {
            ++it->second.consumed;
        } else if (s.waiting < s.max) {
            ++s.waiting;
            res = it->second.queue.push();
        } else {
            res = lwt::return_(false);
        }
        if (!s.cleaning) launch_cleaning(s_);
        return res;
    }

    // Calls waiting now (as of the last second's pass, plus those queued since).
    std::size_t waiting() const noexcept { return s_->waiting; }

private:
    struct entry {
        std::size_t consumed = 0;  // passes given in the current second
        detail::waitq<bool> queue;
    };
    struct state {
        explicit state(std::size_t n) : table(n) {}
        std::size_t rate = 1, max = 1, waiting = 0;
        std::unordered_map<Key, entry, Hash, Equal> table;
        std::optional<promise<void>> cleaning;  // the pending once-a-second pass
    };

    // Once a second: each key's oldest waiting calls get up to `rate` passes (true); a key
    // that got none (nobody waits) leaves the table. The pass keeps the state alive.
    static void launch_cleaning(const std::shared_ptr<state>& sp) {
        sp->cleaning.emplace(unix_::sleep(1.0));
        on_success(*sp->cleaning, [sp] {
            state& s = *sp;
            std::vector<typename detail::waitq<bool>::entry*> to_run;
            s.waiting = 0;
            for (auto it = s.table.begin(); it != s.table.end();) {
                std::size_t given = 0;
                while (given < s.rate) {
                    auto* e = it->second.queue.pop();
                    if (e == nullptr) break;
                    to_run.push_back(e);
                    ++given;
                }
                if (given == 0) {
                    it = s.table.erase(it);
                } else {
                    it->second.consumed = given;
                    s.waiting += it->second.queue.size();
                    ++it;
                }
            }
            s.cleaning.reset();
            if (!s.table.empty()) launch_cleaning(sp);
            for (auto* e : to_run) detail::waitq<bool>::fulfil(e, true);
        });
    }

    std::shared_ptr<state> s_;
};

}  // namespace lwt
