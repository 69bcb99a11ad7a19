// Lwt_stream: asynchronous streams of values.
//
// A stream<T> is a cheap, copyable handle. Its elements come from a source: a push function
// (create), a bounded push object (create_bounded) or a function pulled on demand (from,
// of_vector). Each element is delivered once, to readers in the order they started reading
// (docs/semantics.md rule 12: channel semantics -- Lwt would duplicate them); a cancelled reader takes
// nothing, so no element is lost. clone() gives a second stream that receives every element
// too (a copy). Transformers (map, filter, ...) return new streams pulled lazily from this one.
//
// The machinery (sources, subscribers, readers) and the exceptions stream_closed,
// stream_full and stream_empty are in detail/stream_source.hpp.
#pragma once

#include <lwt/detail/iter_n.hpp>
#include <lwt/detail/stream_source.hpp>
#include <lwt/promise.hpp>
#include <lwt/result.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt {

template <class T>
class stream {
public:
    using value_type = T;

    // The push function of create(): push(v) adds v, push(std::nullopt) closes the stream;
    // pushing into a closed stream throws lwt::stream_closed. A cheap copyable handle.
    class push_fn {
    public:
        void operator()(std::optional<T> v) const {
            auto& s = *src_;
            if (s.closed) throw stream_closed();
            if (v)
                s.deliver(std::move(*v));
            else
                s.close();
        }

    private:
        friend class stream;
        explicit push_fn(std::shared_ptr<detail::stream_source<T>> s) : src_(std::move(s)) {}
        std::shared_ptr<detail::stream_source<T>> src_;
    };

    // The push object of create_bounded(n).
    class bounded_push {
    public:
        // Adds v; waits while the stream holds n elements. A push made while another one is
        // blocked is rejected with lwt::stream_full; on a closed stream, with stream_closed.
        // Cancelling a blocked push withdraws its value.
        promise<void> push(T v) const {
            auto& s = *src_;
            if (s.closed) return fail(stream_closed());
            if (s.blocked) return fail(stream_full());
            if (!s.full()) {
                s.deliver(std::move(v));
                return return_();
            }
            auto t = task<void>();
            s.blocked.emplace(std::move(t.second));
            s.blocked_value.emplace(std::move(v));
            std::weak_ptr<detail::stream_source<T>> weak = src_;
            on_cancel(t.first, [weak] {
                if (auto src = weak.lock()) {
                    src->blocked.reset();
                    src->blocked_value.reset();
                }
            });
            return std::move(t.first);
        }
        // Closes the stream; a blocked push, and every later one, is rejected with
        // lwt::stream_closed.
        void close() const { src_->close(); }
        std::size_t size() const noexcept { return src_->bound; }
        // Changes the bound (n >= 1); a blocked push may get in.
        void resize(int n) const {
            if (n <= 0) throw std::invalid_argument("lwt::stream::bounded_push::resize: size must be positive");
            src_->bound = static_cast<std::size_t>(n);
            if (src_->primary != nullptr) src_->primary->consumed();
        }
        // Elements waiting in the stream.
        std::size_t count() const { return src_->primary != nullptr ? src_->primary->buf.size() : 0; }
        bool blocked() const noexcept { return src_->blocked.has_value(); }
        bool closed() const noexcept { return src_->closed; }

    private:
        friend class stream;
        explicit bounded_push(std::shared_ptr<detail::stream_source<T>> s) : src_(std::move(s)) {}
        std::shared_ptr<detail::stream_source<T>> src_;
    };

    // Lwt_stream.create.
    static std::pair<stream, push_fn> create() {
        auto src = std::make_shared<detail::stream_source<T>>();
        stream s(src);
        return {s, push_fn(src)};
    }

    // Lwt_stream.create_bounded: n <= 0 throws std::invalid_argument.
    static std::pair<stream, bounded_push> create_bounded(int n) {
        if (n <= 0) throw std::invalid_argument("lwt::stream::create_bounded: size must be positive");
        auto src = std::make_shared<detail::stream_source<T>>();
        src->k = detail::stream_source<T>::kind::bounded;
        src->bound = static_cast<std::size_t>(n);
        stream s(src);
        src->primary = s.sub_.get();
        return {s, bounded_push(src)};
    }

    // Lwt_stream.from: f() gives the next element, or std::nullopt at the end; it is called
    // only when a reader needs an element, one call at a time. f's failure rejects the
    // reader that caused the call (the next read calls f again).
    template <class F>
    static stream from(F f) {
        auto src = std::make_shared<detail::stream_source<T>>();
        src->k = detail::stream_source<T>::kind::pull;
        src->pull = [f = std::move(f)]() mutable -> promise<std::optional<T>> { return f(); };
        return stream(src);
    }
    // Lwt_stream.from_direct: f() gives the next element directly.
    template <class F>
    static stream from_direct(F f) {
        return from([f = std::move(f)]() mutable { return lwt::return_(std::optional<T>(f())); });
    }
    // Lwt_stream.of_list / of_array.
    static stream of_vector(std::vector<T> v) {
        auto [s, push] = create();
        for (auto& x : v) push(std::move(x));
        push(std::nullopt);
        return s;
    }
    static stream of_list(std::vector<T> v) { return of_vector(std::move(v)); }

    // ---- reading ----

    // The next element, or std::nullopt at the end.
    promise<std::optional<T>> get() const {
        auto& sub = *sub_;
        if (sub.readers.empty()) {  // nobody reads before us
            if (!sub.buf.empty()) return ready(std::optional<T>(sub.take_front()));
            if (sub.src->closed) return ready(std::nullopt);
        }
        auto p = sub.readers.push(detail::read_kind::get);
        sub.src->start_pull(sub.src);
        return p;
    }

    // The next element; lwt::stream_empty at the end.
    promise<T> next() const { return next_impl(*this); }

    // The next element without taking it (std::nullopt at the end).
    promise<std::optional<T>> peek() const {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::peek copies the element");
        auto& sub = *sub_;
        if (sub.readers.empty()) {
            if (!sub.buf.empty()) return ready(std::optional<T>(sub.buf.front()));
            if (sub.src->closed) return ready(std::nullopt);
        }
        auto p = sub.readers.push(detail::read_kind::peek);
        sub.src->start_pull(sub.src);
        return p;
    }

    // Up to n next elements without taking them (fewer only at the end).
    promise<std::vector<T>> npeek(std::size_t n) const { return npeek_impl(*this, n); }

    // Removes the next element (waiting for it); njunk(n): the next n elements.
    promise<void> junk() const { return junk_impl(*this, 1); }
    promise<void> njunk(std::size_t n) const { return junk_impl(*this, n); }

    // Lwt_stream.nget: up to n next elements (fewer only at the end).
    promise<std::vector<T>> nget(std::size_t n) const { return nget_impl(*this, n); }
    // Lwt_stream.get_while: the next elements while p(element) holds; the first for which it
    // does not stays in the stream. junk_while: the same, dropping them.
    template <class F>
    promise<std::vector<T>> get_while(F p) const {
        return get_while_impl(*this, std::move(p), true);
    }
    template <class F>
    promise<void> junk_while(F p) const {
        return junk_while_impl(*this, std::move(p));
    }

    // What is buffered now, without waiting.
    std::vector<T> get_available() const { return get_available_up_to(static_cast<std::size_t>(-1)); }
    std::vector<T> get_available_up_to(std::size_t n) const {
        auto& sub = *sub_;
        std::vector<T> out;
        if (!sub.readers.empty()) return out;  // earlier readers come first
        while (!sub.buf.empty() && out.size() < n) out.push_back(sub.take_front());
        return out;
    }

    // Lwt_stream.is_empty: waits until an element is available (false) or the end (true).
    promise<bool> is_empty() const { return is_empty_impl(*this); }
    // The source has been closed (elements may still be buffered).
    bool is_closed() const noexcept { return sub_->src->closed; }
    // Fulfilled when the source is closed.
    promise<void> closed() const {
        auto& src = *sub_->src;
        if (src.closed) return return_();
        if (!src.closed_signal) src.closed_signal.emplace(lwt::wait<void>());
        return src.closed_signal->first;
    }

    // Every remaining element, once the stream has ended.
    promise<std::vector<T>> to_list() const { return to_list_impl(*this); }

    // A stream that receives every element this one receives from now on, and a copy of what
    // this one has buffered. Reading one does not consume the other.
    stream clone() const {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::clone copies the elements");
        stream c(sub_->src);
        c.sub_->buf = sub_->buf;
        return c;
    }

    // ---- transformers (lazy: each pulls from this stream on demand) ----

    template <class F>
    auto map(F f) const -> stream<std::invoke_result_t<F&, T>> {
        using U = std::invoke_result_t<F&, T>;
        return stream<U>::from([s = *this, f = std::move(f)]() mutable { return map_step<U>(s, f); });
    }
    template <class F>
    auto map_s(F f) const -> stream<detail::promise_value_t<std::invoke_result_t<F&, T>>> {
        using U = detail::promise_value_t<std::invoke_result_t<F&, T>>;
        return stream<U>::from([s = *this, f = std::move(f)]() mutable { return map_s_step<U>(s, f); });
    }
    template <class F>
    stream filter(F p) const {
        return from([s = *this, p = std::move(p)]() mutable { return filter_step(s, p); });
    }
    template <class F>
    stream filter_s(F p) const {
        return from([s = *this, p = std::move(p)]() mutable { return filter_s_step(s, p); });
    }
    // f gives std::optional<U>: the elements it maps to std::nullopt are dropped.
    template <class F>
    auto filter_map(F f) const -> stream<typename std::invoke_result_t<F&, T>::value_type> {
        using U = typename std::invoke_result_t<F&, T>::value_type;
        return stream<U>::from([s = *this, f = std::move(f)]() mutable { return filter_map_step<U>(s, f); });
    }

    // Lwt_stream.fold f s init: f(element, acc) for each element in order.
    template <class F, class A>
    promise<A> fold(F f, A init) const {
        return fold_impl<A>(*this, std::move(f), std::move(init));
    }
    template <class F, class A>
    promise<A> fold_s(F f, A init) const {
        return fold_s_impl<A>(*this, std::move(f), std::move(init));
    }
    // f(element) for each element, in order; iter_s waits for each f's promise.
    template <class F>
    promise<void> iter(F f) const {
        return iter_impl(*this, std::move(f));
    }
    template <class F>
    promise<void> iter_s(F f) const {
        return iter_s_impl(*this, std::move(f));
    }
    // f(element) started for each element as it arrives; waits for all (first failure wins).
    template <class F>
    promise<void> iter_p(F f) const {
        return iter_n(std::move(f), static_cast<std::size_t>(-1));
    }
    // Like iter_p, with at most max_concurrency f's running at once (>= 1).
    template <class F>
    promise<void> iter_n(F f, std::size_t max_concurrency) const {
        if (max_concurrency == 0) throw std::invalid_argument("lwt::stream::iter_n: max_concurrency must be positive");
        return detail::iter_n_pulled([s = *this] { return s.get(); }, std::move(f), max_concurrency);
    }
    // The first element satisfying p (std::nullopt if none); the elements before are consumed.
    template <class F>
    promise<std::optional<T>> find(F p) const {
        return find_impl(*this, std::move(p));
    }
    // Lwt_stream.find_map: the first f(element) that is not std::nullopt (f gives
    // std::optional<U>); the elements before it, and it, are consumed.
    template <class F>
    auto find_map(F f) const -> promise<std::optional<typename std::invoke_result_t<F&, T>::value_type>> {
        using U = typename std::invoke_result_t<F&, T>::value_type;
        return stream<U>::template first_mapped<T>(*this, std::move(f));
    }
    // Lwt_stream.filter_map_s: as filter_map, with f giving a promise of std::optional<U>.
    template <class F>
    auto filter_map_s(F f) const -> stream<typename detail::promise_value_t<std::invoke_result_t<F&, T>>::value_type> {
        using U = typename detail::promise_value_t<std::invoke_result_t<F&, T>>::value_type;
        return stream<U>::from([s = *this, f = std::move(f)]() mutable { return filter_map_s_step<U>(s, f); });
    }
    // Lwt_stream.map_list: f gives a std::vector<U> for each element; the stream of all their
    // elements, in order. flatten: the same for a stream of vectors.
    template <class F>
    auto map_list(F f) const -> stream<typename std::invoke_result_t<F&, T>::value_type> {
        using U = typename std::invoke_result_t<F&, T>::value_type;
        return stream<U>::from([s = *this, f = std::move(f), pending = std::deque<U>()]() mutable {
            return map_list_step<U>(s, f, pending);
        });
    }
    auto flatten() const {
        return map_list([](T v) { return v; });
    }

    // The elements of this stream, then those of `other`.
    stream append(stream other) const {
        return from([a = *this, b = std::move(other)]() mutable { return append_step(a, b); });
    }
    // Pairs of elements of this stream and `other`, until either ends.
    template <class U>
    stream<std::pair<T, U>> combine(stream<U> other) const {
        return stream<std::pair<T, U>>::from(
            [a = *this, b = std::move(other)]() mutable { return combine_step(a, b); });
    }
    // The elements of each stream of `ss`, in turn.
    static stream concat(stream<stream<T>> ss) {
        return from([ss = std::move(ss), cur = std::optional<stream>()]() mutable { return concat_step(ss, cur); });
    }
    // Lwt_stream.choose: the elements of all `ss` as they come, whichever has one first; it
    // ends when they all have. When several have one ready, they take turns. An element is
    // taken from its stream only when it is handed on (the others are only peeked at).
    static stream choose(std::vector<stream> ss) {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::choose peeks");
        return from([ss = std::move(ss), turn = std::size_t(0)]() mutable { return choose_step(ss, turn); });
    }

    // Lwt_stream.wrap_exn: each element v as result<T, exception_ptr>(v), and each failure of
    // this stream's source (a rejected read) as lwt::error(e). A source that fails on every
    // read makes an endless stream.
    stream<result<T, std::exception_ptr>> wrap_exn() const {
        return stream<result<T, std::exception_ptr>>::from([s = *this] { return wrap_exn_step(s); });
    }

    // Lwt_stream.parse: gives f(stream)'s result; if f fails, the elements it took are put
    // back at the front of the stream, in their order, and the failure is passed on -- so
    // another parser may try them. Nested parses on one stream are fine (an inner parse that
    // fails gives its elements back to the outer one); elements that other readers take while
    // f runs count as taken by f.
    template <class F>
    auto parse(F f) const -> promise<detail::promise_value_t<std::invoke_result_t<F&, stream>>> {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::parse keeps copies to put back");
        return parse_impl<detail::promise_value_t<std::invoke_result_t<F&, stream>>>(*this, std::move(f));
    }

private:
    template <class U>
    friend class stream;

    explicit stream(std::shared_ptr<detail::stream_source<T>> src) : sub_(std::make_shared<detail::stream_sub<T>>()) {
        sub_->src = std::move(src);
        sub_->self = sub_;
        sub_->src->subs.push_back(sub_.get());
    }

    static promise<std::optional<T>> ready(std::optional<T> v) {
        auto w = lwt::wait<std::optional<T>>();
        w.second.resolve(std::move(v));
        return std::move(w.first);
    }

    static promise<T> next_impl(stream s) {
        std::optional<T> v = co_await s.get();
        if (!v) throw stream_empty();
        co_return std::move(*v);
    }
    static promise<std::vector<T>> npeek_impl(stream s, std::size_t n) {
        auto& sub = *s.sub_;
        while (sub.buf.size() < n && !sub.src->closed) {
            auto w = sub.growth.push();
            sub.src->start_pull(sub.src);
            co_await std::move(w);
        }
        std::vector<T> out;
        for (std::size_t i = 0; i < n && i < sub.buf.size(); ++i) out.push_back(sub.buf[i]);
        co_return out;
    }
    static promise<void> junk_impl(stream s, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i)
            if (!co_await s.get()) break;
    }
    static promise<std::vector<T>> nget_impl(stream s, std::size_t n) {
        std::vector<T> out;
        while (out.size() < n) {
            std::optional<T> v = co_await s.get();
            if (!v) break;
            out.push_back(std::move(*v));
        }
        co_return out;
    }
    template <class F>
    static promise<std::vector<T>> get_while_impl(stream s, F p, bool keep) {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::get_while peeks");
        std::vector<T> out;
        for (;;) {
            std::optional<T> v = co_await s.peek();
            if (!v || !p(static_cast<const T&>(*v))) break;
            co_await s.junk();  // (the element peeked: buffered, taken at once)
            if (keep) out.push_back(std::move(*v));
        }
        co_return out;
    }
    template <class F>
    static promise<void> junk_while_impl(stream s, F p) {
        co_await get_while_impl(s, std::move(p), false);
    }
    template <class From, class F>
    static promise<std::optional<T>> first_mapped(stream<From> s, F f) {
        for (;;) {
            std::optional<From> v = co_await s.get();
            if (!v) co_return std::nullopt;
            if (std::optional<T> u = f(std::move(*v))) co_return u;
        }
    }
    template <class U, class F>
    static promise<std::optional<U>> filter_map_s_step(stream s, F& f) {
        for (;;) {
            std::optional<T> v = co_await s.get();
            if (!v) co_return std::nullopt;
            std::optional<U> u = co_await f(std::move(*v));
            if (u) co_return u;
        }
    }
    template <class U, class F>
    static promise<std::optional<U>> map_list_step(stream s, F& f, std::deque<U>& pending) {
        while (pending.empty()) {
            std::optional<T> v = co_await s.get();
            if (!v) co_return std::nullopt;
            for (auto& u : f(std::move(*v))) pending.push_back(std::move(u));
        }
        std::optional<U> u(std::move(pending.front()));
        pending.pop_front();
        co_return u;
    }
    static promise<bool> is_empty_impl(stream s) {
        static_assert(std::is_copy_constructible_v<T>, "lwt::stream::is_empty peeks");
        auto v = co_await s.peek();
        co_return !v.has_value();
    }
    static promise<std::vector<T>> to_list_impl(stream s) {
        std::vector<T> out;
        while (auto v = co_await s.get()) out.push_back(std::move(*v));
        co_return out;
    }

    template <class U, class F>
    static promise<std::optional<U>> map_step(stream s, F& f) {
        auto v = co_await s.get();
        if (!v) co_return std::nullopt;
        co_return std::optional<U>(f(std::move(*v)));
    }
    template <class U, class F>
    static promise<std::optional<U>> map_s_step(stream s, F& f) {
        auto v = co_await s.get();
        if (!v) co_return std::nullopt;
        co_return std::optional<U>(co_await f(std::move(*v)));
    }
    template <class F>
    static promise<std::optional<T>> filter_step(stream s, F& p) {
        while (auto v = co_await s.get())
            if (p(static_cast<const T&>(*v))) co_return v;
        co_return std::nullopt;
    }
    template <class F>
    static promise<std::optional<T>> filter_s_step(stream s, F& p) {
        while (auto v = co_await s.get())
            if (co_await p(static_cast<const T&>(*v))) co_return v;
        co_return std::nullopt;
    }
    template <class U, class F>
    static promise<std::optional<U>> filter_map_step(stream s, F& f) {
        while (auto v = co_await s.get())
            if (std::optional<U> u = f(std::move(*v))) co_return u;
        co_return std::nullopt;
    }
    template <class A, class F>
    static promise<A> fold_impl(stream s, F f, A acc) {
        while (auto v = co_await s.get()) acc = f(std::move(*v), std::move(acc));
        co_return acc;
    }
    template <class A, class F>
    static promise<A> fold_s_impl(stream s, F f, A acc) {
        while (auto v = co_await s.get()) acc = co_await f(std::move(*v), std::move(acc));
        co_return acc;
    }
    template <class F>
    static promise<void> iter_impl(stream s, F f) {
        while (auto v = co_await s.get()) f(std::move(*v));
    }
    template <class F>
    static promise<void> iter_s_impl(stream s, F f) {
        while (auto v = co_await s.get()) co_await f(std::move(*v));
    }
    template <class F>
    static promise<std::optional<T>> find_impl(stream s, F p) {
        while (auto v = co_await s.get())
            if (p(static_cast<const T&>(*v))) co_return v;
        co_return std::nullopt;
    }
    static promise<std::optional<T>> append_step(stream& a, stream& b) {
        if (auto v = co_await a.get()) co_return v;
        co_return co_await b.get();
    }
    template <class U>
    static promise<std::optional<std::pair<T, U>>> combine_step(stream& a, stream<U>& b) {
        auto x = co_await a.get();
        if (!x) co_return std::nullopt;
        auto y = co_await b.get();
        if (!y) co_return std::nullopt;
        co_return std::optional<std::pair<T, U>>(std::in_place, std::move(*x), std::move(*y));
    }
    static promise<std::optional<T>> concat_step(stream<stream<T>>& ss, std::optional<stream>& cur) {
        for (;;) {
            if (!cur) {
                auto next = co_await ss.get();
                if (!next) co_return std::nullopt;
                cur.emplace(std::move(*next));
            }
            if (auto v = co_await cur->get()) co_return v;
            cur.reset();
        }
    }

    // Cancelling it cancels the peek (docs/semantics.md rule 7).
    static promise<std::pair<std::size_t, std::optional<T>>> tagged_peek(stream s, std::size_t i) {
        std::optional<T> v = co_await s.peek();
        co_return std::pair(i, std::move(v));
    }
    static promise<std::optional<T>> choose_step(std::vector<stream>& ss, std::size_t& turn) {
        while (!ss.empty()) {
            // Peek at every stream, starting with the one after the last to give an element
            // (pick prefers the first of several already settled).
            std::vector<promise<std::pair<std::size_t, std::optional<T>>>> peeks;
            peeks.reserve(ss.size());
            for (std::size_t k = 0; k < ss.size(); ++k) {
                std::size_t i = (turn + k) % ss.size();
                peeks.push_back(tagged_peek(ss[i], i));
            }
            auto [i, v] = co_await pick(peeks);  // the other peeks are cancelled: they take nothing
            if (v) {
                turn = i + 1;
                std::optional<T> taken = co_await ss[i].get();  // the element peeked, unless a reader beat us
                if (taken) co_return taken;
                continue;
            }
            ss.erase(ss.begin() + static_cast<std::ptrdiff_t>(i));
            turn = i;
        }
        co_return std::nullopt;
    }
    static promise<std::optional<result<T, std::exception_ptr>>> wrap_exn_step(stream s) {
        std::exception_ptr e;
        try {
            std::optional<T> v = co_await s.get();
            if (!v) co_return std::nullopt;
            co_return std::optional<result<T, std::exception_ptr>>(std::move(*v));
        } catch (...) {
            e = std::current_exception();
        }
        co_return std::optional<result<T, std::exception_ptr>>(lwt::error(std::move(e)));
    }
    template <class R, class F>
    static promise<R> parse_impl(stream s, F f) {
        auto& sub = *s.sub_;
        std::vector<T> taken;
        sub.parses.push_back(&taken);
        std::exception_ptr e;
        std::optional<std::conditional_t<std::is_void_v<R>, char, R>> r;
        try {
            promise<R> p = detail::invoke_to_promise([&f, &s] { return f(s); });
            if constexpr (std::is_void_v<R>)
                co_await std::move(p);
            else
                r.emplace(co_await std::move(p));
        } catch (...) {
            e = std::current_exception();
        }
        auto& ps = sub.parses;
        auto at = std::find(ps.begin(), ps.end(), &taken);
        if (e) {
            // The enclosing parses recorded these elements too: they are no longer taken.
            for (auto it = ps.begin(); it != at; ++it) {
                auto k = static_cast<std::ptrdiff_t>(std::min((*it)->size(), taken.size()));
                (*it)->erase((*it)->end() - k, (*it)->end());
            }
            for (auto it = taken.rbegin(); it != taken.rend(); ++it) sub.buf.push_front(std::move(*it));
        }
        ps.erase(at);
        if (e) {
            sub.grew();
            sub.feed();
            std::rethrow_exception(e);
        }
        if constexpr (!std::is_void_v<R>) co_return std::move(*r);
    }

    std::shared_ptr<detail::stream_sub<T>> sub_;
};

}  // namespace lwt
