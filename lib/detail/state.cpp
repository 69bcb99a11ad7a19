// Settling, releasing and cancelling promise cells (see the reading guide in state.hpp).
#include <lwt/detail/state.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <unordered_set>
#include <vector>

namespace lwt {

const char* canceled::what() const noexcept { return "lwt::canceled"; }

}  // namespace lwt

namespace lwt::detail {

bool is_canceled_exception(const std::exception_ptr& e) noexcept {
    if (!e) return false;
    try {
        std::rethrow_exception(e);
    } catch (const canceled&) {
        return true;
    } catch (...) {
        return false;
    }
}

void throw_resolved_twice() {
    throw std::invalid_argument("lwt: resolving a promise that is already resolved");
}

void throw_not_settled() {
    throw std::logic_error("lwt: promise::value() on a pending promise");
}

namespace {

// One shared exception object for every cancellation: rejecting with lwt::canceled is then
// a reference-count increment instead of an allocation and a throw.
const std::exception_ptr& canceled_exception() {
    static const std::exception_ptr e = std::make_exception_ptr(canceled{});
    return e;
}

void dispose_waiters(cell_base* s) noexcept {
    while (waiter* w = s->head) {
        s->unlink(w);
        w->fire(w, nullptr);
    }
}

void run_waiters_job(void* arg) noexcept {
    auto* s = static_cast<cell_base*>(arg);
    run_waiters(s);
    release(s);
}

}  // namespace

void destroy_released() noexcept {
    ctx.destroying = true;
    while (cell_base* n = ctx.release_list) {
        ctx.release_list = n->next_release;
        n->destroy_fn(n);
    }
    ctx.destroying = false;
}

void destroy_state_slow(cell_base* s) noexcept {
    if (s->head != nullptr) dispose_waiters(s);
    if (ctx.destroying) {
        s->next_release = ctx.release_list;
        ctx.release_list = s;
        return;
    }
    ctx.destroying = true;
    s->destroy_fn(s);
    ctx.destroying = false;
    destroy_released();
}

void run_waiters(cell_base* s) noexcept {
    if (s->canceled && s->has_on_cancel) {
        // on_cancel callbacks run before the other waiters (docs/semantics.md rule 6). Rescan from the head
        // after each: a callback may unlink other waiters.
        for (;;) {
            waiter* first = s->head;
            if (first == nullptr) break;
            waiter* found = nullptr;
            waiter* it = first;
            do {
                if (it->on_cancel) {
                    found = it;
                    break;
                }
                it = it->next;
            } while (it != first);
            if (found == nullptr) break;
            s->unlink(found);
            found->fire(found, s);
        }
    }
    while (waiter* w = s->head) {
        s->unlink(w);
        w->fire(w, s);
    }
}

void settle_slow(cell_base* s, bool later) noexcept {
    // Deferred: a wakeup_later nested in a running resolution, or any resolution when the
    // stack is low and someone below will drain the queue. Otherwise the waiters run now,
    // and the outermost resolution drains what they deferred before returning.
    if ((later && ctx.depth > 0) || ((ctx.depth > 0 || ctx.trampoline) && stack_low())) {
        retain(s);
        defer(&run_waiters_job, s);
        return;
    }
    retain(s);
    {
        resolution_scope scope;
        run_waiters(s);
    }
    release(s);
}

void reject_canceled(cell_base* s) noexcept {
    if (!s->pending()) return;
    s->set_rejected(canceled_exception(), true);
    settle(s, false);
}

// ---------------------------------------------------------------------------------------
// Cancellation.

struct cancel_walk::seen_set {
    std::unordered_set<cancelable*> nodes;
};

bool cancel_walk::seen_before(cancelable* c) {
    if (seen_ == nullptr) {
        if (todo_n_ < scan_n) return std::find_if(todo_, todo_ + todo_n_, [c](const leaf_t& t) { return t.c == c; }) != todo_ + todo_n_;
        seen_ = new seen_set;
        seen_->nodes.reserve(todo_n_ * 4);
        for (std::size_t i = 0; i < todo_n_; ++i) seen_->nodes.insert(todo_[i].c);
    }
    return !seen_->nodes.insert(c).second;
}

cancel_walk::~cancel_walk() {
    delete seen_;
    for (std::size_t i = 0; i < leaves_n_; ++i) release(leaves_[i].keep);
    if (todo_ != todo_in_) std::free(todo_);
    if (leaves_ != leaves_in_) std::free(leaves_);
}

void cancel_walk::grow(leaf_t*& v, std::size_t n, std::size_t& cap, leaf_t* in) {
    std::size_t ncap = cap * 2;
    auto* nv = static_cast<leaf_t*>(std::malloc(ncap * sizeof(leaf_t)));
    if (nv == nullptr) throw std::bad_alloc();
    std::memcpy(static_cast<void*>(nv), v, n * sizeof(leaf_t));
    if (v != in) std::free(v);
    v = nv;
    cap = ncap;
}

void cancel_walk::run(cancelable* root, cell_base* owner) {
    // Phase 0: walk backwards breadth-first; no user code runs, the graph cannot change.
    visit(root, owner);
    for (std::size_t i = 0; i < todo_n_; ++i) {
        leaf_t x = todo_[i];
        if (x.c->cancel_fn != nullptr) x.c->cancel_fn(x.c, *this, x.keep);
    }
    // Phase 1: every cancelable cell found becomes rejected with lwt::canceled at once, as in
    // Lwt, before any of their waiters runs.
    for (std::size_t i = 0; i < leaves_n_; ++i) {
        leaf_t& l = leaves_[i];
        if (l.act == nullptr) {
            auto* s = static_cast<cell_base*>(l.c);
            if (s->pending()) s->set_rejected(canceled_exception(), true);
        }
    }
    // Phase 2: the rejections flow forward (waiters run, on_cancel first); operations that
    // are not cells (I/O in flight) are asked to cancel.
    for (std::size_t i = 0; i < leaves_n_; ++i) {
        leaf_t& l = leaves_[i];
        if (l.act == nullptr)
            settle(static_cast<cell_base*>(l.c), false);
        else
            l.act(l.c);
    }
}

void cancel_as_leaf(cancelable* self, cancel_walk& w, cell_base*) {
    auto* s = static_cast<cell_base*>(self);
    if (s->pending()) w.leaf(self, s, nullptr);
}

namespace {

// The abandoned cells of this thread (see abandon() in state.hpp).
constinit LWT_TLS std::vector<cell_base*>* abandoned = nullptr;
constinit LWT_TLS std::size_t prune_at = 64;

}  // namespace

void abandon(cell_base* s) {
    if (abandoned == nullptr) {
        ensure_context_guard();
        abandoned = new std::vector<cell_base*>();
    }
    retain(s);
    abandoned->push_back(s);
    if (abandoned->size() >= prune_at) {
        // Cells only the list holds can never be observed again: drop them.
        std::vector<cell_base*> keep;
        std::vector<cell_base*> drop;
        for (cell_base* c : *abandoned) (c->refs == 1 || !c->pending() ? drop : keep).push_back(c);
        abandoned->swap(keep);
        for (cell_base* c : drop) release(c);
        prune_at = 2 * abandoned->size() + 64;
    }
}

void reap_abandoned() noexcept {
    // Rejecting runs coroutines, which may abandon more cells: repeat until none is left.
    while (abandoned != nullptr && !abandoned->empty()) {
        std::vector<cell_base*> list;
        list.swap(*abandoned);
        for (cell_base* c : list) {
            reject_canceled(c);
            release(c);
        }
    }
    delete abandoned;
    abandoned = nullptr;
    prune_at = 64;
}

std::size_t abandoned_count() noexcept { return abandoned == nullptr ? 0 : abandoned->size(); }

void cancel(cell_base* s) {
    if (!s->pending() || s->cancel_fn == nullptr) return;
    cancel_walk w;
    w.run(s, nullptr);
}

}  // namespace lwt::detail
