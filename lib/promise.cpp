// The non-template parts of the core: resolution by rejection, the async exception hook,
// pause, keys.
#include <lwt/detail/loop.hpp>
#include <lwt/promise.hpp>

#include <fmt/core.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace lwt {

std::function<void(std::exception_ptr)> async_exception_hook;

promise<void> return_() {
    // One fulfilled cell per thread serves every return_(): a settled cell is never changed
    // again (callbacks on it run at once, cancel ignores it), so sharing it is invisible.
    // The thread's context holds one reference, dropped at thread exit.
    if (detail::ctx.ready_void == nullptr) {
        detail::ensure_context_guard();
        auto* s = detail::new_heap_state<void>(false);
        s->set_value();
        detail::ctx.ready_void = s;
    }
    auto* s = static_cast<detail::cell<void>*>(detail::ctx.ready_void);
    detail::retain(s);
    return detail::adopt<void>(s);
}

std::size_t paused_count() noexcept { return detail::ctx.paused; }

}  // namespace lwt

namespace lwt::detail {

void reject_cell(cell_base* s, bool later, std::exception_ptr e) {
    if (!e) throw std::invalid_argument("lwt: rejecting a promise with a null exception_ptr");
    if (!s->begin_resolve()) return;
    s->set_rejected(std::move(e));
    settle(s, later);
}

void call_async_exception_hook(std::exception_ptr e) noexcept {
    // noexcept: a hook that throws terminates the program (docs/semantics.md rule 5).
    if (async_exception_hook) {
        async_exception_hook(std::move(e));
        return;
    }
    std::string what = "unknown exception";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        what = x.what();
    } catch (...) {
    }
    fmt::print(stderr, "lwt: unhandled exception in asynchronous code: {}\n", what);
    std::fflush(stderr);
    std::exit(2);
}

void throw_empty_list(const char* name) {
    throw std::invalid_argument(fmt::format("lwt::{}: empty list of promises", name));
}

void wake_paused() noexcept {
    pause_link* n = ctx.pause_head;
    ctx.pause_head = ctx.pause_tail = nullptr;
    ctx.paused = 0;
    while (n != nullptr) {
        pause_link* next = n->next;
        resolution_scope scope;
        n->wake(n);
        n = next;
    }
}

std::uint64_t new_key_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

void release_keys_slow(key_frame* k) noexcept {
    // k's count has reached zero; free it and walk up while parents reach zero too.
    while (k != nullptr) {
        key_frame* parent = k->parent;
        k->destroy(k);
        if (parent == nullptr || --parent->refs != 0) break;
        k = parent;
    }
}

}  // namespace lwt::detail
