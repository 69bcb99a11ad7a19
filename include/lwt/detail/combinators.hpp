// Cells that wait on other cells: followers (protected_, no_cancel, wrap_in_cancelable),
// gathers (join, all, both) and races (pick, choose, npick, nchoose, nchoose_split).
//
// A combinator is one allocation: its result cell followed by one `slot` per input. A slot is
// a waiter linked on its input and holds a reference to it, so inputs outlive the slots on
// them. Destroying the combinator unlinks the slots still linked. While a slot fires, the
// combinator retains itself: settling its result may drop the last handle to it.
// Cancelling a combinator's result forwards to its pending inputs.
#pragma once

#include <lwt/detail/coroutine.hpp>
#include <lwt/detail/state.hpp>

#include <cstdint>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

namespace lwt::detail {

// Moves or copies the outcome of a settled cell into a pending one (without running
// waiters). Moves the value when T cannot be copied or nobody else can read `from`.
template <class T>
void transfer_outcome(cell<T>* from, cell<T>* to) {
    if (from->st == lwt::state::rejected) {
        to->set_rejected(from->exc, from->canceled);
    } else if constexpr (std::is_void_v<T>) {
        to->set_value();
    } else if constexpr (!lwt::detail::copyable_v<T>) {
        to->set_value(std::move(from->value));
    } else {
        if (from->refs == 1)
            to->set_value(std::move(from->value));
        else
            to->set_value(from->value);
    }
}

template <class T>
decltype(auto) value_for_collection(cell<T>* s) {
    if constexpr (!lwt::detail::copyable_v<T>)
        return std::move(s->value);
    else
        return static_cast<const T&>(s->value);
}

struct slot final : waiter {
    cell_base* in;
    void* owner;
};

// The n-ary combinator frame: D (derived from nary<R, D>) followed by n slots.
template <class R, class D>
struct nary : cell<R> {
    std::uint32_t n = 0;

    slot* slots() noexcept {
        return reinterpret_cast<slot*>(reinterpret_cast<char*>(static_cast<D*>(this)) + sizeof(D));
    }

    template <class... A>
    static D* create(std::size_t count, A&&... a) {
        static_assert(sizeof(D) % alignof(slot) == 0);
        void* mem = pool_alloc(sizeof(D) + count * sizeof(slot));
        D* d;
        try {
            d = ::new (mem) D(std::forward<A>(a)...);
        } catch (...) {
            pool_free(mem, sizeof(D) + count * sizeof(slot));
            throw;
        }
        d->n = static_cast<std::uint32_t>(count);
        d->destroy_fn = &destroy;
        d->cancel_fn = &cancel_inputs;
        d->maker = cell_base::made_by::combinator;
        slot* sl = d->slots();
        for (std::size_t i = 0; i < count; ++i) {
            ::new (&sl[i]) slot();
            sl[i].in = nullptr;
            sl[i].owner = d;
            sl[i].fire = &fire_slot;
        }
        return d;
    }

    // Links slot i on `in` (retained). Returns false when `in` has already settled.
    bool watch(std::size_t i, cell_base* in) noexcept {
        slot& s = slots()[i];
        s.in = in;
        retain(in);
        if (!in->pending()) return false;
        in->link(&s);
        return true;
    }

    void unlink_all() noexcept {
        slot* sl = slots();
        for (std::uint32_t i = 0; i < n; ++i)
            if (sl[i].in != nullptr && sl[i].in->linked(&sl[i])) sl[i].in->unlink(&sl[i]);
    }

private:
    static void destroy(cell_base* s) noexcept {
        D* d = static_cast<D*>(s);
        std::size_t size = sizeof(D) + d->n * sizeof(slot);
        d->unlink_all();
        slot* sl = d->slots();
        for (std::uint32_t i = 0; i < d->n; ++i)
            if (sl[i].in != nullptr) release(sl[i].in);
        d->~D();
        pool_free(d, size);
    }
    static void fire_slot(waiter* w, cell_base* settled) noexcept {
        if (settled == nullptr) return;  // unreachable: the slot retains its input
        auto* sl = static_cast<slot*>(w);
        D* d = static_cast<D*>(sl->owner);
        retain(d);
        d->on_input(sl);
        release(d);
    }
    static void cancel_inputs(cancelable* self, cancel_walk& w, cell_base*) {
        D* d = static_cast<D*>(static_cast<cell_base*>(self));
        if (!d->pending()) return;
        slot* sl = d->slots();
        for (std::uint32_t i = 0; i < d->n; ++i)
            if (sl[i].in != nullptr && sl[i].in->pending()) w.visit(sl[i].in, nullptr);
    }
};

// ---------------------------------------------------------------------------------------
// Followers.

enum class follow_kind { protect, no_cancel, wrap };

template <class T, follow_kind K>
struct follower final : nary<T, follower<T, K>> {
    void on_input(slot* sl) noexcept {
        if (!this->pending()) return;  // protected_ or wrap_in_cancelable already canceled
        transfer_outcome(static_cast<cell<T>*>(sl->in), static_cast<cell<T>*>(this));
        settle(this, false);
    }
    static void cancel_fn_for(cancelable* self, cancel_walk& w, cell_base*) {
        auto* f = static_cast<follower*>(static_cast<cell_base*>(self));
        if (!f->pending()) return;
        w.leaf(self, f, nullptr);  // reject the follower itself...
        if constexpr (K == follow_kind::wrap)
            w.visit(f->slots()[0].in, nullptr);  // ...and, for wrap_in_cancelable, its input
    }
};

template <class T, follow_kind K>
promise<T> make_follower(cell<T>* in) {
    if (!in->pending()) {
        retain(in);
        return adopt<T>(in);  // Lwt returns p itself when it has settled
    }
    auto* f = follower<T, K>::create(1);
    f->cancel_fn = K == follow_kind::no_cancel ? nullptr : &follower<T, K>::cancel_fn_for;
    f->watch(0, in);
    return adopt<T>(static_cast<cell<T>*>(f));
}

// ---------------------------------------------------------------------------------------
// Gathers: wait for every input; reject with the first rejection in time.

template <class R, class Finish>
struct gather final : nary<R, gather<R, Finish>> {
    std::uint32_t remaining = 0;
    bool first_canceled = false;
    std::exception_ptr first;

    void record(cell_base* in) noexcept {
        if (in->st == lwt::state::rejected && !first) {
            first = in->exc;
            first_canceled = in->canceled;
        }
    }
    void on_input(slot* sl) noexcept {
        record(sl->in);
        if (--remaining == 0) finish();
    }
    void finish() noexcept {
        if (first) {
            this->set_rejected(std::move(first), first_canceled);
        } else {
            try {
                Finish::fill(this);
            } catch (...) {
                this->set_rejected(std::current_exception());
            }
        }
        settle(this, false);
    }
};

template <class R, class Finish, class It>
promise<R> make_gather(std::size_t count, It begin) {
    using G = gather<R, Finish>;
    G* g = G::create(count);
    promise<R> result = adopt<R>(static_cast<cell<R>*>(g));
    // Inputs already rejected are recorded first, in list order (Lwt does the same).
    It it = begin;
    for (std::size_t i = 0; i < count; ++i, ++it) {
        if (g->watch(i, state_of(*it)))
            ++g->remaining;
        else
            g->record(state_of(*it));
    }
    if (g->remaining == 0) g->finish();
    return result;
}

struct fill_void {
    template <class G>
    static void fill(G* g) noexcept {
        g->set_value();
    }
};

template <class T>
struct fill_vector {
    template <class G>
    static void fill(G* g) {
        std::vector<T> out;
        out.reserve(g->n);
        slot* sl = g->slots();
        for (std::uint32_t i = 0; i < g->n; ++i) out.push_back(value_for_collection(static_cast<cell<T>*>(sl[i].in)));
        g->set_value(std::move(out));
    }
};

template <class A, class B>
struct fill_pair {
    template <class G>
    static void fill(G* g) {
        slot* sl = g->slots();
        g->set_value(value_for_collection(static_cast<cell<A>*>(sl[0].in)),
                     value_for_collection(static_cast<cell<B>*>(sl[1].in)));
    }
};

// (A template only so that this header compiles before promise<T> is complete.)
template <class V = void>
promise<V> make_join(std::vector<promise<V>> ps) {
    return make_gather<V, fill_void>(ps.size(), ps.begin());
}

template <class T>
promise<std::vector<T>> make_all(std::vector<promise<T>> ps) {
    return make_gather<std::vector<T>, fill_vector<T>>(ps.size(), ps.begin());
}

template <class A, class B>
promise<std::pair<A, B>> make_both(const promise<A>& a, const promise<B>& b) {
    using R = std::pair<A, B>;
    using G = gather<R, fill_pair<A, B>>;
    G* g = G::create(2);
    promise<R> result = adopt<R>(static_cast<cell<R>*>(g));
    if (g->watch(0, state_of(a)))
        ++g->remaining;
    else
        g->record(state_of(a));
    if (g->watch(1, state_of(b)))
        ++g->remaining;
    else
        g->record(state_of(b));
    if (g->remaining == 0) g->finish();
    return result;
}

// ---------------------------------------------------------------------------------------
// Races: the first input to settle decides.

enum class race_kind { pick, choose, npick, nchoose, nchoose_split };

template <class T, race_kind K>
struct race_result {
    using type = std::vector<T>;
};
template <class T>
struct race_result<T, race_kind::pick> {
    using type = T;
};
template <class T>
struct race_result<T, race_kind::choose> {
    using type = T;
};
template <class T>
struct race_result<T, race_kind::nchoose_split> {
    using type = std::pair<std::vector<T>, std::vector<promise<T>>>;
};
template <class T, race_kind K>
using race_result_t = typename race_result<T, K>::type;

[[noreturn]] LWT_EXPORT void throw_empty_list(const char* name);

template <class T, race_kind K>
constexpr bool race_cancels = K == race_kind::pick || K == race_kind::npick;

// The inputs of a race, as the cells they designate. `at(i)` is the i-th cell.
template <class T, class Get>
struct inputs_view {
    std::size_t n;
    Get at;
};

// For the n* races: the first rejected input in list order, if any.
template <class T, class V>
cell<T>* first_rejected(const V& in) noexcept {
    for (std::size_t i = 0; i < in.n; ++i)
        if (in.at(i)->st == lwt::state::rejected) return in.at(i);
    return nullptr;
}

// Fills `out` (pending) from the inputs' states as n*-races do: rejection wins; otherwise
// all fulfilled values in list order (and, for nchoose_split, the pending inputs).
template <class T, race_kind K, class V>
void fill_n_result(cell<race_result_t<T, K>>* out, const V& in) {
    if (cell<T>* r = first_rejected<T>(in)) {
        out->set_rejected(r->exc, r->canceled);
        return;
    }
    try {
        std::vector<T> values;
        std::vector<promise<T>> rest;
        for (std::size_t i = 0; i < in.n; ++i) {
            cell<T>* s = in.at(i);
            if (s->st == lwt::state::fulfilled)
                values.push_back(value_for_collection(s));
            else if constexpr (K == race_kind::nchoose_split) {
                retain(s);
                rest.push_back(adopt<T>(s));
            }
        }
        if constexpr (K == race_kind::nchoose_split)
            out->set_value(std::move(values), std::move(rest));
        else
            out->set_value(std::move(values));
    } catch (...) {
        out->set_rejected(std::current_exception());
    }
}

template <class T, race_kind K>
struct race final : nary<race_result_t<T, K>, race<T, K>> {
    using R = race_result_t<T, K>;

    void on_input(slot* winner) noexcept {
        if (!this->pending()) return;
        this->unlink_all();
        slot* sl = this->slots();
        if constexpr (K == race_kind::pick || K == race_kind::choose) {
            transfer_outcome(static_cast<cell<T>*>(winner->in), static_cast<cell<R>*>(this));
        } else {
            auto at = [sl](std::size_t i) { return static_cast<cell<T>*>(sl[i].in); };
            fill_n_result<T, K>(static_cast<cell<R>*>(this), inputs_view<T, decltype(at)>{this->n, at});
        }
        if constexpr (race_cancels<T, K>) {
            // The losers are cancelled before the result's waiters run (docs/semantics.md rule 8).
            for (std::uint32_t i = 0; i < this->n; ++i)
                if (sl[i].in->pending()) {
                    try {
                        cancel(sl[i].in);
                    } catch (...) {
                        call_async_exception_hook(std::current_exception());
                    }
                }
        }
        settle(this, false);
    }
};

// `at(i)` gives the i-th input's cell.
template <class T, race_kind K, class Get>
promise<race_result_t<T, K>> make_race(std::size_t count, Get at, const char* name) {
    using R = race_result_t<T, K>;
    if (count == 0) throw_empty_list(name);
    inputs_view<T, Get> in{count, at};
    bool any_settled = false;
    for (std::size_t i = 0; i < count; ++i) any_settled |= !in.at(i)->pending();
    if (any_settled) {
        // Already settled inputs decide at once: a rejected one is preferred (rule 8).
        promise<R> result = [&] {
            if constexpr (K == race_kind::pick || K == race_kind::choose) {
                cell<T>* w = first_rejected<T>(in);
                for (std::size_t i = 0; w == nullptr; ++i)
                    if (!in.at(i)->pending()) w = in.at(i);
                retain(w);
                return adopt<T>(w);
            } else {
                auto* out = new heap_state<R>(false);
                promise<R> r = adopt<R>(static_cast<cell<R>*>(out));
                fill_n_result<T, K>(out, in);
                return r;
            }
        }();
        if constexpr (race_cancels<T, K>)
            for (std::size_t i = 0; i < count; ++i)
                if (in.at(i)->pending()) cancel(in.at(i));
        return result;
    }
    using X = race<T, K>;
    X* x = X::create(count);
    promise<R> result = adopt<R>(static_cast<cell<R>*>(x));
    for (std::size_t i = 0; i < count; ++i) x->watch(i, in.at(i));
    return result;
}

}  // namespace lwt::detail
