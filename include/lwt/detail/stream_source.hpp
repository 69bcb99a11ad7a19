// The machinery of lwt::stream (see <lwt/stream.hpp>).
//
// Reading guide: `source` is what produces elements (and knows the clones fed from it);
// `subscriber` is one stream's buffer and its queue of readers. feed() hands buffered
// elements to waiting readers, FIFO; a reader that finds nothing either waits or, for a pull
// source, starts the one pull in flight.
#pragma once

#include <lwt/detail/waitq.hpp>
#include <lwt/promise.hpp>

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

// Lwt_stream.Closed: pushing into a closed stream.
struct LWT_EXPORT stream_closed : std::exception {
    const char* what() const noexcept override;
};
// Lwt_stream.Full: a second push while a bounded stream's push is already blocked.
struct LWT_EXPORT stream_full : std::exception {
    const char* what() const noexcept override;
};
// Lwt_stream.Empty: next() at the end of a stream.
struct LWT_EXPORT stream_empty : std::exception {
    const char* what() const noexcept override;
};

template <class T>
class stream;

}  // namespace lwt

namespace lwt::detail {

enum class read_kind : char { get, peek };

template <class T>
struct stream_source;

template <class T>
struct stream_sub {
    std::shared_ptr<stream_source<T>> src;  // the source outlives its subscribers
    std::weak_ptr<stream_sub> self;
    std::deque<T> buf;
    waitq<std::optional<T>, read_kind> readers;
    waitq<void> growth;  // npeek waiting for the buffer to grow
    // The parse() calls in progress on this stream, outermost first: each records the
    // elements taken while it runs, to put them back if it fails.
    std::vector<std::vector<T>*> parses;

    // Removes the first buffered element (there is one) and gives it.
    T take_front();

    // Hands what is buffered (or the end) to the waiting readers, oldest first.
    void feed();
    bool ended() const;
    // An element left this subscriber's buffer (a bounded source may let a push in).
    void consumed();
    void grew() {
        while (auto* e = growth.pop()) waitq<void>::fulfil(e);
    }
    ~stream_sub();
};

template <class T>
struct stream_source {
    enum class kind { push, bounded, pull } k = kind::push;
    bool closed = false;  // no element will come any more
    std::vector<stream_sub<T>*> subs;      // each removes itself when destroyed
    stream_sub<T>* primary = nullptr;      // the stream a bounded source counts against
    // Created when someone asks for closed(); resolved by close().
    std::optional<std::pair<promise<void>, resolver<void>>> closed_signal;
    // pull
    std::function<promise<std::optional<T>>()> pull;
    bool pulling = false;
    // bounded
    std::size_t bound = 0;
    std::optional<T> blocked_value;
    std::optional<resolver<void>> blocked;
    promise<void> blocked_promise = lwt::return_();

    // The subscribers, kept alive while their readers run (feeding may drop the last handle).
    std::vector<std::shared_ptr<stream_sub<T>>> live() {
        std::vector<std::shared_ptr<stream_sub<T>>> out;
        out.reserve(subs.size());
        for (auto* s : subs) out.push_back(s->self.lock());
        return out;
    }

    // Appends v to every stream fed by this source (copies to clones, the value moved last).
    void deliver(T v) {
        if (subs.size() == 1) {  // no clone: the common case, no copies
            std::shared_ptr<stream_sub<T>> s = subs[0]->self.lock();
            s->buf.push_back(std::move(v));
            s->grew();
            s->feed();
            return;
        }
        auto subs_now = live();
        for (std::size_t i = 0; i < subs_now.size(); ++i) {
            if (i + 1 == subs_now.size())
                subs_now[i]->buf.push_back(std::move(v));
            else if constexpr (std::is_copy_constructible_v<T>)
                subs_now[i]->buf.push_back(v);
        }
        for (auto& s : subs_now) {
            s->grew();
            s->feed();
        }
    }

    void close() {
        if (closed) return;
        closed = true;
        if (blocked) {  // a blocked bounded push is refused
            auto r = std::move(*blocked);
            blocked.reset();
            blocked_value.reset();
            r.reject(stream_closed());
        }
        for (auto& s : live()) {
            s->grew();
            s->feed();
        }
        if (closed_signal) closed_signal->second.resolve();
    }

    bool full() const {
        return k == kind::bounded && primary != nullptr && primary->buf.size() >= bound;
    }

    static promise<void> pull_one(std::shared_ptr<stream_source> self) {
        std::exception_ptr err;
        std::optional<T> v;
        try {
            // Called in place (not through invoke_to_promise, which would call a copy): the
            // function may keep state between calls. The source keeps it alive meanwhile.
            v = co_await self->pull();
        } catch (...) {
            err = std::current_exception();
        }
        self->pulling = false;
        if (err) {
            // Lwt: the exception goes to the reader that caused the pull.
            for (auto& s : self->live())
                if (auto* e = s->readers.pop()) {
                    decltype(s->readers)::fail(e, err);
                    break;
                }
        } else if (v) {
            self->deliver(std::move(*v));
        } else {
            self->close();
        }
        for (auto& s : self->live()) s->feed();
    }

    void start_pull(const std::shared_ptr<stream_source>& self) {
        if (k != kind::pull || pulling || closed) return;
        pulling = true;
        async([self] { return pull_one(self); });
    }
};

template <class T>
stream_sub<T>::~stream_sub() {
    auto& v = src->subs;
    for (auto it = v.begin(); it != v.end(); ++it)
        if (*it == this) {
            v.erase(it);
            break;
        }
    if (src->primary == this) src->primary = nullptr;
}

template <class T>
bool stream_sub<T>::ended() const {
    return buf.empty() && src->closed;
}

template <class T>
void stream_sub<T>::consumed() {
    stream_source<T>& s = *src;
    if (s.k == stream_source<T>::kind::bounded && s.blocked && !s.full()) {
        auto r = std::move(*s.blocked);
        s.blocked.reset();
        T v = std::move(*s.blocked_value);
        s.blocked_value.reset();
        s.deliver(std::move(v));
        r.resolve();
    }
}

template <class T>
T stream_sub<T>::take_front() {
    if constexpr (std::is_copy_constructible_v<T>)
        for (auto* h : parses) h->push_back(buf.front());
    T v(std::move(buf.front()));
    buf.pop_front();
    consumed();
    return v;
}

template <class T>
void stream_sub<T>::feed() {
    using queue = waitq<std::optional<T>, read_kind>;
    while (auto* e = readers.front()) {
        if (!buf.empty()) {
            readers.pop();
            if (e->extra == read_kind::peek) {
                if constexpr (std::is_copy_constructible_v<T>) queue::fulfil(e, std::optional<T>(buf.front()));
            } else {
                queue::fulfil(e, std::optional<T>(take_front()));
            }
            continue;
        }
        if (src->closed) {
            readers.pop();
            queue::fulfil(e, std::nullopt);
            continue;
        }
        src->start_pull(src);
        return;
    }
}

}  // namespace lwt::detail
