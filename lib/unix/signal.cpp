// Lwt_unix.on_signal. A signal handler writes the signal number to a process-wide pipe
// (async-signal-safe); a dispatcher thread reads it and posts the handlers registered for
// that signal to their loops' inboxes. The table is guarded by a mutex and purged of an
// engine when it is torn down, so nothing is ever posted to a dead loop. A handler runs on
// the loop (thread) that registered it.
#include "support.hpp"

#include <lwt/promise.hpp>
#include <lwt/unix/signal.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace lwt::unix_ {

namespace {

using detail::io_engine;
using detail::inbox_item;

struct registry {
    std::mutex m;
    struct entry {
        int signum;
        io_engine* owner;
        std::shared_ptr<std::function<void(int)>> f;
        bool keeps_loop;  // counted in the owner's external_sources
    };
    std::map<std::uint64_t, entry> handlers;
    std::uint64_t next_id = 1;
    int installed[NSIG] = {};
    struct sigaction saved[NSIG];
    int pipe_r = -1;

    void purge(io_engine* e) {
        std::lock_guard<std::mutex> lk(m);
        for (auto it = handlers.begin(); it != handlers.end();) {
            if (it->second.owner == e) {
                if (--installed[it->second.signum] == 0)
                    ::sigaction(it->second.signum, &saved[it->second.signum], nullptr);
                it = handlers.erase(it);
            } else {
                ++it;
            }
        }
    }
};

registry& reg() { return detail::loop_registry<registry>(); }

std::atomic<int> signal_pipe_w{-1};

extern "C" void lwt_on_os_signal(int signum) {
    int saved = errno;
    auto b = static_cast<unsigned char>(signum);
    [[maybe_unused]] ssize_t n = ::write(signal_pipe_w.load(std::memory_order_relaxed), &b, 1);
    errno = saved;
}

struct signal_item : inbox_item {
    std::uint64_t id;
    int signum;
};

void run_signal(inbox_item* it) noexcept {
    auto* item = static_cast<signal_item*>(it);
    std::shared_ptr<std::function<void(int)>> f;
    {
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        auto h = r.handlers.find(item->id);
        if (h != r.handlers.end()) f = h->second.f;
    }
    int signum = item->signum;
    delete item;
    if (f) detail::guarded(*f, signum);
}

void dispatch_signals(int fd) {
    for (;;) {
        unsigned char b;
        ssize_t n = ::read(fd, &b, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        registry& r = reg();
        std::lock_guard<std::mutex> lk(r.m);
        for (auto& [id, h] : r.handlers) {
            if (h.signum != b) continue;
            auto* item = new signal_item();
            item->id = id;
            item->signum = b;
            item->run = &run_signal;
            h.owner->post(item);
        }
    }
}

}  // namespace

namespace {
signal_handler_id install(int signum, std::function<void(int)> f, bool keeps_loop) {
    if (signum <= 0 || signum >= NSIG || signum == SIGKILL || signum == SIGSTOP)
        throw std::invalid_argument(fmt::format("lwt::unix_::on_signal: cannot handle signal {}", signum));
    if (!f) throw std::invalid_argument("lwt::unix_::on_signal: empty handler");
    io_engine& e = io_engine::current();
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    if (r.pipe_r < 0) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) detail::throw_errno("pipe", "");
        ::fcntl(fds[1], F_SETFL, O_NONBLOCK);  // the handler must never block
        r.pipe_r = fds[0];
        signal_pipe_w.store(fds[1], std::memory_order_relaxed);
        std::thread(dispatch_signals, fds[0]).detach();
    }
    if (r.installed[signum]++ == 0) {
        struct sigaction sa {};
        sa.sa_handler = &lwt_on_os_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (::sigaction(signum, &sa, &r.saved[signum]) != 0) {
            --r.installed[signum];
            detail::throw_errno("sigaction", std::to_string(signum));
        }
    }
    std::uint64_t id = r.next_id++;
    r.handlers.emplace(id, registry::entry{signum, &e, std::make_shared<std::function<void(int)>>(std::move(f)), keeps_loop});
    if (keeps_loop) e.external_sources.fetch_add(1, std::memory_order_relaxed);
    return signal_handler_id{id};
}
}  // namespace

signal_handler_id on_signal(int signum, std::function<void(int)> f) { return install(signum, std::move(f), true); }

void disable_signal_handler(signal_handler_id id) {
    registry& r = reg();
    std::lock_guard<std::mutex> lk(r.m);
    auto it = r.handlers.find(id.id);
    if (it == r.handlers.end()) return;
    int signum = it->second.signum;
    if (it->second.keeps_loop) it->second.owner->external_sources.fetch_sub(1, std::memory_order_relaxed);
    r.handlers.erase(it);
    if (--r.installed[signum] == 0) ::sigaction(signum, &r.saved[signum], nullptr);
}

}  // namespace lwt::unix_

namespace lwt::detail {
unix_::signal_handler_id on_signal_in_background(int signum, std::function<void(int)> f) {
    return unix_::install(signum, std::move(f), false);
}
}  // namespace lwt::detail
