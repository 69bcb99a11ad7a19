// operation<K>'s machinery, instantiated by each room for its kinds (private to the
// library): awaiting, converting to a promise (relocation), cancelling, abandoning.
#pragma once

#include "support.hpp"

#include <lwt/unix/operation.hpp>

#include <unistd.h>

#include <stdexcept>
#include <type_traits>
#include <utility>

namespace lwt::detail {

// What an error names as the call's argument: what the kind says, else the descriptor.
template <class K>
std::string error_arg(const io_op& op, const typename K::extra& x) {
    if constexpr (requires { K::error_arg(op, x); })
        return K::error_arg(op, x);
    else
        return fd_str(op.fd);
}

// The value of a finished operation that failed or was cancelled: the kernel's result if it
// finished first (an owned descriptor is closed instead: result_slow), else the failure.
template <class K>
typename K::value_type value_slow(io_op& op, typename K::extra& x, const char* call) {
    if constexpr (requires { K::failure_value(0); }) {
        if (op.res < 0)  // (also when a cancel came too late: the kernel's answer wins)
            if (auto v = K::failure_value(-op.res)) return *v;
    }
    // (A descriptor that came too late is closed; a kind with its own release -- a chunk's
    // buffer -- is given: its bytes were taken from the stream.)
    constexpr bool closes = K::owns_result && !requires { K::release(op); };
    std::int32_t r = result_slow({op.res, op.cancel_requested, 0}, call, error_arg<K>(op, x), closes);
    op.res = r;
    op.cancel_requested = false;
    return K::value(op, x);
}

// An operation converted to a promise: the promise's cell holds the operation itself, and
// the engine completes the cell directly, with no coroutine frame in between. The engine
// holds a reference while the operation is in flight, so the cell outlives a dropped promise.
template <class K>
struct op_cell final : cell<typename K::value_type>, pooled {
    io_op op;
    typename K::extra x;
    const char* call = "";

    op_cell() noexcept {
        this->destroy_fn = [](cell_base* s) noexcept { delete static_cast<op_cell*>(s); };
        this->cancel_fn = &cancel_cell;
        this->maker = cell_base::made_by::operation;
        op.complete = &complete;
        op.frame = this;
    }

    // The outcome of the finished operation, without running waiters.
    void take_result() noexcept {
        try {
            if constexpr (std::is_void_v<typename K::value_type>) {
                if (LWT_UNLIKELY(op.res < 0 || op.cancel_requested)) value_slow<K>(op, x, call);
                this->set_value();
            } else if (LWT_LIKELY(op.res >= 0 && !op.cancel_requested)) {
                this->set_value(K::value(op, x));
            } else {
                this->set_value(value_slow<K>(op, x, call));
            }
        } catch (...) {
            this->set_rejected(std::current_exception());
        }
    }
    static void complete(io_op* o) noexcept {
        auto* c = static_cast<op_cell*>(o->frame);
        c->take_result();
        settle(c, false);
        release(c);  // the engine's reference
    }
    static void cancel_action(cancelable* self) noexcept {
        cancel_op(static_cast<op_cell*>(static_cast<cell_base*>(self))->op);
    }
    static void cancel_cell(cancelable* self, cancel_walk& w, cell_base*) {
        auto* c = static_cast<op_cell*>(static_cast<cell_base*>(self));
        if (!c->pending()) return;
        if (w.describing)
            w.visit(&c->op, c);  // (describe_awaited names the operation)
        else
            w.leaf(self, c, &cancel_action);
    }

    // Starts the operation described in `op` from here.
    void start(io_engine& e) noexcept {
        if (e.start(op)) {
            take_result();
        } else {
            retain(this);
            if (LWT_UNLIKELY(ctx.tracing & trace_events)) trace_op_begin(op);
        }
    }
};

inline void copy_request(const io_op& from, io_op& to) noexcept {
    to.kind = from.kind;
    to.fd = from.fd;
    to.flags = from.flags;
    to.len = from.len;
    to.off = from.off;
    to.addr = from.addr;
    to.addr2 = from.addr2;
}

}  // namespace lwt::detail

namespace lwt::unix_ {

using detail::io_engine;
using detail::io_op;

// The operation is tried at once; if it would have to wait, it is in the engine before the
// call returns. `this` is final: the operation is returned by guaranteed copy elision and
// never moves, so the engine may keep &op_ (and the kernel the address in x_). Inlined into
// each call (send, recv_chunk...), so that the request goes straight into the operation.
template <class K>
LWT_INLINE operation<K>::operation(const detail::op_request& r, typename K::extra x) : call_(r.call), x_(std::move(x)) {
    prepare(r);
    io_engine::current().start(op_);
}

template <class K>
operation<K>::operation(const detail::op_request& r, typename K::extra x, detail::at_once_t) noexcept
    : call_(r.call), x_(std::move(x)) {
    prepare(r);
    op_.res = detail::perform_now(op_);
    op_.phase = detail::io_phase::done;
}

template <class K>
LWT_INLINE void operation<K>::prepare(const detail::op_request& r) noexcept {
    op_.kind = r.kind;
    op_.fd = r.fd;
    op_.addr = r.addr;
    op_.len = r.len;
    op_.off = r.off;
    op_.flags = r.flags;
    x_.point(op_);
    op_.complete = &detail::note_done;
}

template <class K>
operation<K>::operation(detail::finished_t, const char* call) noexcept : call_(call) {
    op_.phase = detail::io_phase::done;
    op_.res = 0;
}

template <class K>
void operation<K>::misuse() const {
    if (op_.phase == detail::io_phase::idle)
        throw std::logic_error(fmt::format(
            "lwt::unix_::{}: awaited after its result was given (awaited, or converted to a promise)", call_));
    throw std::logic_error(fmt::format(
        "lwt::unix_::{}: awaited by two coroutines at once (convert it to a promise to share it)", call_));
}

template <class K>
typename K::value_type operation<K>::outcome() {
    if constexpr (K::owns_result) op_.phase = detail::io_phase::idle;  // given (or closed) now
    return detail::value_slow<K>(op_, x_, call_);
}

template <class K>
operation<K>::operator promise<typename K::value_type>() && {
    using detail::io_phase;
    if (op_.phase == io_phase::idle || op_.frame != nullptr) misuse();  // (frame: awaited now)
    auto* c = new detail::op_cell<K>();
    promise<value_type> p = detail::adopt<value_type>(c);
    c->call = call_;
    detail::copy_request(op_, c->op);
    if (op_.phase == io_phase::done) {
        c->x = std::move(x_);
        c->x.point(c->op);
        c->op.res = op_.res;
        c->op.cqe_flags = op_.cqe_flags;  // (recv_chunk: its buffer)
        c->op.cancel_requested = op_.cancel_requested;
        c->take_result();
    } else {
        // A copy: the kernel may still read what x_ holds (a path) until it lets go of op_.
        c->x = x_;
        c->x.point(c->op);
        io_engine& e = io_engine::current();
        if (e.relocate(op_, c->op)) {
            // Moved as it is (not yet handed to the kernel, or waiting in user space).
            detail::retain(c);
        } else {
            // The kernel will still use what lies next to op_ (an io_uring accept, statx or
            // recvmsg it has taken): take it back (synchronously), then go on from the cell
            // -- with the kernel's result if it finished first, or afresh if it had not
            // started (unless its fd was closed meanwhile: the number may be another file's
            // by now).
            const bool orphaned = op_.orphaned;
            e.cancel(op_);
            if constexpr (requires { c->x.copy_result(x_); }) c->x.copy_result(x_);  // what the kernel wrote
            const int r = op_.res;
            const bool performed = r != -ECANCELED && r != -EINTR && r != -EAGAIN;
            if (!performed && !orphaned) {
                c->start(e);
            } else {
                c->op.res = performed ? r : -EBADF;
                c->op.cqe_flags = performed ? op_.cqe_flags : 0;
                c->take_result();
            }
        }
    }
    op_.phase = io_phase::idle;
    return p;
}

template <class K>
void operation<K>::cancel() noexcept {
    detail::cancel_op(op_);
}

// Destroyed while the operation is in flight. Dropped unawaited, it goes on from a cell of
// its own (as a dropped promise would). Awaited by a coroutine (not the one whose frame held
// it: a suspended frame is never destroyed), it is cancelled: that coroutine resumes here,
// while op_ is still alive for its await_resume, and sees lwt::canceled.
template <class K>
void operation<K>::abandon() noexcept {
    if (op_.frame == nullptr) {
        try {
            promise<value_type> detached = std::move(*this);
            return;
        } catch (...) {  // no memory for a cell: stop it rather than leave &op_ in the kernel
            op_.complete = &detail::note_done;
        }
    }
    io_engine::current().cancel(op_);
    discard();
}

// Finished, never given: a descriptor it holds is closed (a buffer given back).
template <class K>
void operation<K>::discard() noexcept {
    if constexpr (K::owns_result) {
        if (op_.phase == detail::io_phase::done && op_.res >= 0) {
            if constexpr (requires { K::release(op_); })
                K::release(op_);
            else
                ::close(op_.res);
        }
    }
    op_.phase = detail::io_phase::idle;
}

}  // namespace lwt::unix_
