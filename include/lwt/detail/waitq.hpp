// A FIFO queue of waiters for the type modules (mutex, condition, mvar, stream, pool).
//
// Each waiter is a promise cell of its own kind (`entry`), linked in the queue: one
// allocation per wait. Cancelling a queued waiter takes it out of the queue at once -- so
// nothing is ever handed to a cancelled waiter, and a cancelled waiter costs no memory
// afterwards. The queue holds one reference to each linked entry; pop() hands that reference
// to the caller, who settles the entry (fulfil/fail) and so releases it. A queue destroyed
// with entries still linked leaves them pending (they are then abandoned cells: cancelled at
// thread exit, like a wait() whose resolver is gone).
#pragma once

#include <lwt/promise.hpp>

#include <cstddef>
#include <exception>
#include <utility>

namespace lwt::detail {

template <class T, class Extra = char>
class waitq {
public:
    struct entry final : cell<T>, pooled {
        waitq* q = nullptr;  // null once out of the queue
        entry* prev = nullptr;
        entry* next = nullptr;
        Extra extra{};        // what the waiter brings (a value to put, a kind of read...)
    };

    waitq() = default;
    waitq(const waitq&) = delete;
    waitq& operator=(const waitq&) = delete;
    ~waitq() {
        while (entry* e = pop()) {
            if (e->pending()) abandon(e);
            release(e);
        }
    }

    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    entry* front() const noexcept { return head_; }

    // Appends a waiter; its promise is returned.
    promise<T> push(Extra extra = {}) {
        auto* e = new entry();
        e->destroy_fn = [](cell_base* s) noexcept { delete static_cast<entry*>(s); };
        e->cancel_fn = &cancel_entry;
        e->maker = cell_base::made_by::queue;
        e->extra = std::move(extra);
        e->refs = 2;  // the promise and the queue
        e->q = this;
        e->prev = tail_;
        if (tail_ != nullptr)
            tail_->next = e;
        else
            head_ = e;
        tail_ = e;
        ++size_;
        return adopt<T>(static_cast<cell<T>*>(e));
    }

    // Takes the oldest waiter out (nullptr when empty), with the queue's reference: settle it
    // with fulfil() or fail().
    entry* pop() noexcept {
        entry* e = head_;
        if (e != nullptr) unlink(e);
        return e;
    }

    // Resolves a popped entry (wakeup_later semantics) and drops the queue's reference.
    template <class... A>
    static void fulfil(entry* e, A&&... v) {
        resolve_cell(static_cast<cell<T>*>(e), true, std::forward<A>(v)...);
        release(e);
    }
    static void fail(entry* e, std::exception_ptr ex) {
        reject_cell(e, true, std::move(ex));
        release(e);
    }

private:
    void unlink(entry* e) noexcept {
        if (e->prev != nullptr)
            e->prev->next = e->next;
        else
            head_ = e->next;
        if (e->next != nullptr)
            e->next->prev = e->prev;
        else
            tail_ = e->prev;
        e->prev = e->next = nullptr;
        e->q = nullptr;
        --size_;
    }

    static void cancel_action(cancelable* c) noexcept {
        auto* e = static_cast<entry*>(static_cast<cell_base*>(c));
        if (e->q != nullptr) {
            e->q->unlink(e);
            release(e);  // the queue's reference (the leaf walk holds one meanwhile)
        }
        reject_canceled(e);
    }
    static void cancel_entry(cancelable* self, cancel_walk& w, cell_base*) {
        auto* e = static_cast<entry*>(static_cast<cell_base*>(self));
        if (e->pending()) w.leaf(self, e, &cancel_action);
    }

    entry* head_ = nullptr;
    entry* tail_ = nullptr;
    std::size_t size_ = 0;
};

// f() once `acquired` is fulfilled, then release() -- also when f fails or is cancelled
// (mutex::with_lock, semaphore::with_permit). Cancelled while `acquired` is pending, f never
// runs and nothing is released. By value: the coroutine keeps them.
template <class T, class Release, class F>
promise<T> while_held(promise<void> acquired, Release release, F f) {
    co_await std::move(acquired);
    struct releaser {
        Release& r;
        ~releaser() { r(); }
    } guard{release};
    co_return co_await f();
}

}  // namespace lwt::detail
