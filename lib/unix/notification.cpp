// Lwt_unix's notifications: send_notification (any thread) posts the registered function
// to the inbox of the loop that made the notification. The table is guarded by a mutex and
// purged of an engine when it is torn down, so nothing is ever posted to a dead loop.
#include "support.hpp"

#include <lwt/detail/engine.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix/notification.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>

namespace lwt::unix_ {

namespace {

using detail::io_engine;
using detail::inbox_item;

struct registry {
    std::mutex m;
    struct entry {
        io_engine* owner;
        std::shared_ptr<std::function<void()>> f;
        bool once;
    };
    std::map<int, entry> notifications;
    int next_id = 1;

    void purge(io_engine* e) {
        std::lock_guard<std::mutex> lk(m);
        for (auto it = notifications.begin(); it != notifications.end();)
            it = it->second.owner == e ? notifications.erase(it) : std::next(it);
    }
};

registry& reg() { return detail::loop_registry<registry>(); }

}  // namespace

namespace {

struct notification_item : inbox_item {
    int id;
};

void run_notification(inbox_item* it) noexcept {
    auto* item = static_cast<notification_item*>(it);
    int id = item->id;
    delete item;
    std::shared_ptr<std::function<void()>> f;
    {
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        auto n = r.notifications.find(id);
        if (n == r.notifications.end()) return;
        f = n->second.f;
        if (n->second.once) {
            n->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
            r.notifications.erase(n);
        }
    }
    detail::guarded(*f);
}

}  // namespace

int make_notification(std::function<void()> f, bool once) {
    if (!f) throw std::invalid_argument("lwt::unix_::make_notification: empty function");
    io_engine& e = io_engine::current();
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    int id = r.next_id++;
    r.notifications.emplace(id, registry::entry{&e, std::make_shared<std::function<void()>>(std::move(f)), once});
    e.external_sources.fetch_add(1, std::memory_order_relaxed);
    return id;
}

void send_notification(int id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto n = r.notifications.find(id);
    if (n == r.notifications.end()) return;
    auto* item = new notification_item();
    item->id = id;
    item->run = &run_notification;
    n->second.owner->post(item);
}

void stop_notification(int id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto n = r.notifications.find(id);
    if (n == r.notifications.end()) return;
    n->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
    r.notifications.erase(n);
}

}  // namespace lwt::unix_
