// Lwt_list: list operations whose function returns a promise, over any range.
//
// The _s variants run f on one element after the other, waiting for each; they stop at the
// first failure. The _p variants start f on every element at once, left to right, and give
// the results in input order; they wait for every call and fail with the first failure in
// time. The range is copied first: it may be a temporary.
#pragma once

#include <lwt/promise.hpp>

#include <cstddef>
#include <iterator>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace lwt::detail {

template <class R>
using list_elem_t = std::remove_cvref_t<std::ranges::range_value_t<R>>;

template <class R>
std::vector<list_elem_t<R>> list_copy(R&& r) {
    std::vector<list_elem_t<R>> v;
    for (auto&& x : r) v.push_back(x);
    return v;
}

// f(a...), a synchronous throw becoming a rejected promise.
template <class F, class... A>
auto list_call(F& f, A&&... a) -> std::invoke_result_t<F&, A&&...> {
    using P = std::invoke_result_t<F&, A&&...>;
    try {
        return f(std::forward<A>(a)...);
    } catch (...) {
        return lwt::fail<promise_value_t<P>>(std::current_exception());
    }
}

// The _p variants: f is kept in the frame until every call has settled.
template <class T, class F>
promise<void> list_iter_p(std::vector<T> v, F f) {
    std::vector<promise<void>> ps;
    ps.reserve(v.size());
    for (auto& x : v) ps.push_back(list_call(f, static_cast<const T&>(x)));
    co_await lwt::join(std::move(ps));
}
template <class T, class F>
promise<void> list_iteri_p(std::vector<T> v, F f) {
    std::vector<promise<void>> ps;
    ps.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) ps.push_back(list_call(f, i, static_cast<const T&>(v[i])));
    co_await lwt::join(std::move(ps));
}
template <class U, class T, class F>
promise<std::vector<U>> list_map_p(std::vector<T> v, F f) {
    std::vector<promise<U>> ps;
    ps.reserve(v.size());
    for (auto& x : v) ps.push_back(list_call(f, static_cast<const T&>(x)));
    co_return co_await lwt::all(std::move(ps));
}
template <class U, class T, class F>
promise<std::vector<U>> list_mapi_p(std::vector<T> v, F f) {
    std::vector<promise<U>> ps;
    ps.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) ps.push_back(list_call(f, i, static_cast<const T&>(v[i])));
    co_return co_await lwt::all(std::move(ps));
}

template <class T, class F>
promise<void> list_iter_s(std::vector<T> v, F f) {
    for (auto& x : v) co_await f(static_cast<const T&>(x));
}
template <class T, class F>
promise<void> list_iteri_s(std::vector<T> v, F f) {
    for (std::size_t i = 0; i < v.size(); ++i) co_await f(i, static_cast<const T&>(v[i]));
}
template <class U, class T, class F>
promise<std::vector<U>> list_map_s(std::vector<T> v, F f) {
    std::vector<U> out;
    out.reserve(v.size());
    for (auto& x : v) out.push_back(co_await f(static_cast<const T&>(x)));
    co_return out;
}
template <class U, class T, class F>
promise<std::vector<U>> list_mapi_s(std::vector<T> v, F f) {
    std::vector<U> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(co_await f(i, static_cast<const T&>(v[i])));
    co_return out;
}
template <class T, class F>
promise<std::vector<T>> list_filter_s(std::vector<T> v, F f) {
    std::vector<T> out;
    for (auto& x : v)
        if (co_await f(static_cast<const T&>(x))) out.push_back(x);
    co_return out;
}
template <class U, class T, class F>
promise<std::vector<U>> list_filter_map_s(std::vector<T> v, F f) {
    std::vector<U> out;
    for (auto& x : v)
        if (std::optional<U> u = co_await f(static_cast<const T&>(x))) out.push_back(std::move(*u));
    co_return out;
}
template <class A, class T, class F>
promise<A> list_fold_left_s(std::vector<T> v, F f, A acc) {
    for (auto& x : v) acc = co_await f(std::move(acc), static_cast<const T&>(x));
    co_return acc;
}
template <class T, class F>
promise<bool> list_for_all_s(std::vector<T> v, F f) {
    for (auto& x : v)
        if (!co_await f(static_cast<const T&>(x))) co_return false;
    co_return true;
}
template <class T, class F>
promise<bool> list_exists_s(std::vector<T> v, F f) {
    for (auto& x : v)
        if (co_await f(static_cast<const T&>(x))) co_return true;
    co_return false;
}
template <class T, class F>
promise<std::optional<T>> list_find_s(std::vector<T> v, F f) {
    for (auto& x : v)
        if (co_await f(static_cast<const T&>(x))) co_return std::optional<T>(x);
    co_return std::nullopt;
}
template <class T, class F>
promise<std::pair<std::vector<T>, std::vector<T>>> list_partition_s(std::vector<T> v, F f) {
    std::pair<std::vector<T>, std::vector<T>> out;
    for (auto& x : v) (co_await f(static_cast<const T&>(x)) ? out.first : out.second).push_back(x);
    co_return out;
}

}  // namespace lwt::detail

namespace lwt::list {

// ---- sequential ----

template <class F, class R>
promise<void> iter_s(F f, R&& range) {
    return detail::list_iter_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
promise<void> iteri_s(F f, R&& range) {
    return detail::list_iteri_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto map_s(F f, R&& range) {
    using T = detail::list_elem_t<R>;
    using U = lwt::detail::promise_value_t<std::invoke_result_t<F&, const T&>>;
    return detail::list_map_s<U>(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto mapi_s(F f, R&& range) {
    using T = detail::list_elem_t<R>;
    using U = lwt::detail::promise_value_t<std::invoke_result_t<F&, std::size_t, const T&>>;
    return detail::list_mapi_s<U>(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto filter_s(F f, R&& range) {
    return detail::list_filter_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto filter_map_s(F f, R&& range) {
    using T = detail::list_elem_t<R>;
    using U = typename lwt::detail::promise_value_t<std::invoke_result_t<F&, const T&>>::value_type;
    return detail::list_filter_map_s<U>(detail::list_copy(std::forward<R>(range)), std::move(f));
}
// Lwt_list.fold_left_s f init l: f(acc, element) for each element in order.
template <class F, class A, class R>
promise<A> fold_left_s(F f, A init, R&& range) {
    return detail::list_fold_left_s<A>(detail::list_copy(std::forward<R>(range)), std::move(f), std::move(init));
}
template <class F, class R>
promise<bool> for_all_s(F f, R&& range) {
    return detail::list_for_all_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
promise<bool> exists_s(F f, R&& range) {
    return detail::list_exists_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto find_s(F f, R&& range) {
    return detail::list_find_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto partition_s(F f, R&& range) {
    return detail::list_partition_s(detail::list_copy(std::forward<R>(range)), std::move(f));
}

// ---- concurrent ----

template <class F, class R>
promise<void> iter_p(F f, R&& range) {
    return detail::list_iter_p(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
promise<void> iteri_p(F f, R&& range) {
    return detail::list_iteri_p(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto map_p(F f, R&& range) {
    using T = detail::list_elem_t<R>;
    using U = lwt::detail::promise_value_t<std::invoke_result_t<F&, const T&>>;
    return detail::list_map_p<U>(detail::list_copy(std::forward<R>(range)), std::move(f));
}
template <class F, class R>
auto mapi_p(F f, R&& range) {
    using T = detail::list_elem_t<R>;
    using U = lwt::detail::promise_value_t<std::invoke_result_t<F&, std::size_t, const T&>>;
    return detail::list_mapi_p<U>(detail::list_copy(std::forward<R>(range)), std::move(f));
}

}  // namespace lwt::list

namespace lwt::detail {

template <class T, class Pick>
promise<std::vector<T>> list_select(std::vector<T> v, promise<std::vector<bool>> keep, Pick pick) {
    std::vector<bool> k = co_await std::move(keep);
    std::vector<T> out;
    for (std::size_t i = 0; i < v.size(); ++i)
        if (pick(k[i])) out.push_back(v[i]);
    co_return out;
}
template <class T>
promise<std::pair<std::vector<T>, std::vector<T>>> list_split(std::vector<T> v, promise<std::vector<bool>> keep) {
    std::vector<bool> k = co_await std::move(keep);
    std::pair<std::vector<T>, std::vector<T>> out;
    for (std::size_t i = 0; i < v.size(); ++i) (k[i] ? out.first : out.second).push_back(v[i]);
    co_return out;
}
template <class U>
promise<std::vector<U>> list_flatten(promise<std::vector<std::optional<U>>> p) {
    std::vector<std::optional<U>> all = co_await std::move(p);
    std::vector<U> out;
    for (auto& x : all)
        if (x) out.push_back(std::move(*x));
    co_return out;
}
inline promise<bool> list_all_true(promise<std::vector<bool>> p) {
    for (bool b : co_await std::move(p))
        if (!b) co_return false;
    co_return true;
}
inline promise<bool> list_any_true(promise<std::vector<bool>> p) {
    for (bool b : co_await std::move(p))
        if (b) co_return true;
    co_return false;
}

}  // namespace lwt::detail

namespace lwt::list {

template <class F, class R>
auto filter_p(F f, R&& range) {
    auto v = detail::list_copy(std::forward<R>(range));
    auto keep = map_p(std::move(f), v);
    return detail::list_select(std::move(v), std::move(keep), [](bool b) { return b; });
}
template <class F, class R>
auto filter_map_p(F f, R&& range) {
    return detail::list_flatten(map_p(std::move(f), std::forward<R>(range)));
}
template <class F, class R>
promise<bool> for_all_p(F f, R&& range) {
    return detail::list_all_true(map_p(std::move(f), std::forward<R>(range)));
}
template <class F, class R>
promise<bool> exists_p(F f, R&& range) {
    return detail::list_any_true(map_p(std::move(f), std::forward<R>(range)));
}
template <class F, class R>
auto partition_p(F f, R&& range) {
    auto v = detail::list_copy(std::forward<R>(range));
    auto keep = map_p(std::move(f), v);
    return detail::list_split(std::move(v), std::move(keep));
}

}  // namespace lwt::list
