// A FIFO queue of waiters for the type modules (mutex, condition, mvar, stream, pool): each
// waiter is a task() promise; cancelling it takes it out of the queue at once (so nothing is
// ever handed to a cancelled waiter, and a cancelled waiter costs no memory afterwards).
//
// The queue lives in the module's shared state (held by shared_ptr); an entry's on_cancel
// callback holds a weak reference, so a module destroyed with waiters still queued leaves
// them pending without dangling.
#pragma once

#include <lwt/promise.hpp>

#include <cstddef>
#include <memory>
#include <utility>

namespace lwt::detail {

template <class T, class Extra = char>
class waitq {
public:
    struct entry {
        resolver<T> r;
        Extra extra;  // what the waiter brings (a value to put, a kind of read...)
        entry* prev = nullptr;
        entry* next = nullptr;
        bool linked = true;
    };

    waitq() = default;
    waitq(const waitq&) = delete;
    waitq& operator=(const waitq&) = delete;
    ~waitq() {
        while (head_ != nullptr) {
            entry* e = head_;
            unlink(e);
            delete e;
        }
    }

    bool empty() const noexcept { return head_ == nullptr; }
    std::size_t size() const noexcept { return size_; }
    entry* front() const noexcept { return head_; }

    // Appends a waiter; `owner` keeps the queue alive for the cancel callback (weakly).
    template <class Owner>
    promise<T> push(const std::shared_ptr<Owner>& owner, waitq Owner::*self, Extra extra = {}) {
        auto t = task<T>();
        auto* e = new entry{std::move(t.second), std::move(extra)};
        e->prev = tail_;
        if (tail_ != nullptr)
            tail_->next = e;
        else
            head_ = e;
        tail_ = e;
        ++size_;
        std::weak_ptr<Owner> weak = owner;
        on_cancel(t.first, [weak, self, e] {
            if (auto o = weak.lock()) {
                waitq& q = (*o).*self;
                if (e->linked) {
                    q.unlink(e);
                    delete e;
                }
            }
        });
        return std::move(t.first);
    }

    // Takes the oldest waiter out (nullptr when empty); the caller resolves and deletes it.
    entry* pop() noexcept {
        entry* e = head_;
        if (e != nullptr) unlink(e);
        return e;
    }

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
        e->linked = false;
        --size_;
    }

private:
    entry* head_ = nullptr;
    entry* tail_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace lwt::detail
