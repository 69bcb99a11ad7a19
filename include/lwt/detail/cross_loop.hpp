// Messages between loops (the machinery of <lwt/loops.hpp>).
//
// Reading guide
// -------------
// Loops. loops::run starts n loops, one per thread; each is an engine with its inbox (see
// engine.hpp: a lock-free LIFO pushed by any thread, taken whole by the loop). A `loop_slot`
// is what other loops know of loop i: its engine, how to wake it and whether it still
// accepts requests. Everything else about a loop -- what it is serving, the replies it is
// owed -- is thread-local to it (rule 13 holds per loop).
//
// Waking. A message pushed onto an empty inbox wakes the loop: from an io_uring loop to an
// io_uring loop by IORING_OP_MSG_RING, queued with the sender's own submissions (no system
// call of its own); otherwise -- and once the loops are closing -- by writing the target's
// eventfd. Pushes onto a non-empty inbox do not wake it again: one wake-up per burst.
//
// A post's journey. post(i, f) makes a `post_call`: a request carried to loop i's inbox,
// which runs f there, inside a `serve` coroutine, and -- when what f returned settles --
// travels back as a reply to the caller's inbox, which settles the caller's promise (a
// `call_cell`). The caller's loop counts the reply as outstanding (jobs_outstanding: it
// keeps the loop alive and its engine waits for it at teardown), so a reply always finds
// its loop. Only loop i's thread touches the serving side (f, `serving`), only the caller's
// thread the cell; the value crosses with the reply (release by the push, acquire by the
// loop taking its inbox).
//
// Cancellation. Cancelling the caller's promise rejects it at once with lwt::canceled (a
// leaf, as a task) and sends a second message, `cancel_msg`, after the request: on loop i it
// cancels the serve coroutine, and so what f returned. The result of work that finishes
// anyway is dropped. The call is freed by whoever drops the last of its two references (the
// journey, the cancel message).
//
// Ending. When every loop's work has settled, each loop stops accepting requests (a request
// sent later is rejected at once with loops::loop_ended), waits for the others to do the
// same, rejects the requests still in its inbox, cancels what it is still serving and runs
// until every reply it is owed has arrived. See lib/loops.cpp.
#pragma once

#include <lwt/detail/engine.hpp>
#include <lwt/promise.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace lwt::detail {

struct loop_slot;

// Loop i of the running loops::run (this thread's loop when not inside one and i == 0).
// Throws std::invalid_argument when there is no loop i.
LWT_EXPORT loop_slot& loop_at(std::size_t i, const char* call);
// This thread's loop.
LWT_EXPORT loop_slot& this_loop();
LWT_EXPORT std::size_t index_of(const loop_slot& s) noexcept;

// Sends a request to loop `to`; false (nothing sent) when it no longer accepts requests.
LWT_EXPORT bool send_request(loop_slot& to, inbox_item* it) noexcept;
// Sends a reply to loop `to`, which counted it with expect_reply (always accepted).
LWT_EXPORT void send_reply(loop_slot& to, inbox_item* it) noexcept;
// On the caller's loop: a reply will come (counted until reply_arrived).
LWT_EXPORT void expect_reply() noexcept;
LWT_EXPORT void reply_arrived() noexcept;

// On the serving loop: whether it has stopped accepting requests (those that were already
// in its inbox are then rejected), and the list of what it serves (cancelled when it stops).
struct serving_link {
    serving_link* prev = nullptr;
    serving_link* next = nullptr;
    // The work being served (the serve coroutine); empty until it has suspended once, and
    // again once it has settled.
    std::optional<promise<void>>* work = nullptr;
};
LWT_EXPORT bool loop_closed() noexcept;
LWT_EXPORT void serving_add(serving_link* l) noexcept;
LWT_EXPORT void serving_remove(serving_link* l) noexcept;

LWT_EXPORT std::exception_ptr loop_ended_error(std::size_t i);

// hand_off: makes this thread's engine forget descriptor fd (it is leaving the loop), and
// closes a descriptor that could not be handed over.
LWT_EXPORT void forget_here(int fd) noexcept;
LWT_EXPORT void close_quietly(int fd) noexcept;

// An inbox item inside an object, knowing the object.
template <class C>
struct owned_item : inbox_item {
    C* owner = nullptr;
};

template <class T, class F>
struct post_call;

// The caller's promise of a post.
template <class T, class F>
struct call_cell final : cell<T>, pooled {
    post_call<T, F>* call = nullptr;  // valid while pending (the journey holds the cell)
    call_cell() noexcept {
        this->refs = 2;  // the promise returned and the journey
        this->destroy_fn = [](cell_base* s) noexcept { delete static_cast<call_cell*>(s); };
        this->cancel_fn = [](cancelable* self, cancel_walk& w, cell_base*) {
            auto* c = static_cast<call_cell*>(self);
            if (!c->pending()) return;
            w.leaf(self, c, nullptr);  // rejected with lwt::canceled by the walk
            if (!w.describing) c->call->send_cancel();
        };
    }
};

template <class T, class F>
struct post_call {
    // The request, then the reply: one item making both trips.
    owned_item<post_call> journey;
    owned_item<post_call> cancel_msg;
    serving_link serving;
    std::atomic<int> refs{1};  // the journey; +1 while a cancel message travels
    bool cancel_sent = false;  // caller's thread only: a cancel walk may reach the cell twice
    loop_slot* caller;
    loop_slot* target;
    call_cell<T, F>* result;  // caller's thread only
    F f;                      // called on the target's thread
    // Serving side (the target's thread only).
    std::optional<promise<void>> work;
    // The outcome, written on the target before the reply is sent.
    outcome_of<T> outcome;

    post_call(loop_slot& from, loop_slot& to, call_cell<T, F>* r, F fn)
        : caller(&from), target(&to), result(r), f(std::move(fn)) {
        journey.owner = cancel_msg.owner = this;
        journey.run = &on_target;
        cancel_msg.run = &on_cancel;
        serving.work = &work;
    }

    static post_call* of_journey(inbox_item* it) noexcept {
        return static_cast<owned_item<post_call>*>(it)->owner;
    }
    void drop() noexcept {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
    }

    // ---- on the caller's loop ----
    void send_cancel() noexcept {
        if (std::exchange(cancel_sent, true)) return;  // one message: the item is pushed once
        refs.fetch_add(1, std::memory_order_relaxed);
        if (!send_request(*target, &cancel_msg)) drop();  // it ended: it cancels its work itself
    }
    static void on_reply(inbox_item* it) noexcept {
        post_call* c = of_journey(it);
        reply_arrived();
        cell<T>* r = c->result;
        settle_with(r, c->outcome);
        release(r);
        c->drop();
    }

    // ---- on the target's loop ----
    static void on_target(inbox_item* it) noexcept {
        post_call* c = of_journey(it);
        if (loop_closed()) {
            c->outcome.error = loop_ended_error(index_of(*c->target));
            c->reply();
            return;
        }
        serving_add(&c->serving);
        promise<void> w = serve(c);
        if (w.is_pending()) c->work.emplace(std::move(w));
    }
    static void on_cancel(inbox_item* it) noexcept {
        post_call* c = static_cast<owned_item<post_call>*>(it)->owner;
        if (c->work && c->work->is_pending()) lwt::cancel(*c->work);
        c->drop();
    }
    // Runs f, awaits what it returned and sends the outcome back. Its frame is the work that
    // cancellation reaches.
    static promise<void> serve(post_call* c) {
        try {
            if constexpr (promise_like_v<std::invoke_result_t<F&>>) {
                // The call keeps f alive until what it returned settles.
                if constexpr (std::is_void_v<T>) {
                    co_await c->f();
                    c->outcome.value.emplace(true);
                } else {
                    c->outcome.value.emplace(co_await c->f());
                }
            } else if constexpr (std::is_void_v<T>) {
                c->f();
                c->outcome.value.emplace(true);
            } else {
                c->outcome.value.emplace(c->f());
            }
        } catch (...) {
            c->outcome.error = std::current_exception();
        }
        serving_remove(&c->serving);
        c->work.reset();  // this frame stays alive until it returns (the running reference)
        c->reply();
    }
    void reply() noexcept {
        journey.run = &on_reply;
        send_reply(*caller, &journey);  // from here on, `this` belongs to the caller's loop
    }
};

}  // namespace lwt::detail
