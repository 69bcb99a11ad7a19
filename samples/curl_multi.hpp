// curl_multi.hpp: libcurl's multi-socket interface driven by an lwt++ loop -- a C library
// that owns its sockets, made to wait with unix_::wait_read / wait_write (Lwt_unix.wait_read
// / wait_write, <lwt/unix/ready.hpp>). Used by the curl_fetch sample and tests/test_curl.cpp.
//
//     curl_lwt::multi m;
//     curl_lwt::response r = co_await m.fetch("http://127.0.0.1:8080/");
//
// How the two fit (libcurl's "multi_socket" API, curl_multi_socket_action(3)):
//   - libcurl says which sockets it wants watched, for what (its socket callback: in, out,
//     both, or remove), and when it next needs the time to pass (its timer callback).
//   - Each watched socket has a watcher coroutine: it waits for what libcurl asked, tells
//     libcurl what happened (curl_multi_socket_action), and waits again. When libcurl changes
//     its mind the watcher's wait is cancelled and it waits for the new events; on remove
//     (before libcurl closes the socket) the wait is cancelled and the watcher ends, so no
//     wait is left on a closed descriptor.
//   - The timer is a sleep, replaced whenever libcurl gives a new timeout.
//   - After each call into libcurl, finished transfers (curl_multi_info_read) settle their
//     promises: fulfilled with the status and body (any HTTP status: 404 is a response), or
//     rejected with curl_lwt::curl_error (what failed: a refused connection, a timeout, a body
//     over its bound). Cancelling a fetch's promise removes its transfer.
// Nothing here calls into libcurl while libcurl runs: the callbacks only record and cancel,
// and a watcher started or resumed meanwhile (a wait may complete at once: on epoll,
// readiness is checked when the wait starts) goes on at the next iteration (`in_curl_`).
#pragma once

#include <lwt/lwt.hpp>

#include <curl/curl.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>

namespace curl_lwt {

struct response {
    long status = 0;  // the HTTP status
    std::string body;
};

// A transfer that failed: libcurl's code and what it said, with the URL.
class curl_error : public std::runtime_error {
public:
    curl_error(CURLcode code, const std::string& what) : std::runtime_error(what), code_(code) {}
    CURLcode code() const noexcept { return code_; }

private:
    CURLcode code_;
};

struct fetch_options {
    double timeout = 0;                         // seconds for the whole transfer; 0: none
    std::size_t max_body = std::size_t{64} << 20;  // a longer body fails the fetch
};

// One libcurl multi handle on this thread's loop. Destroying it cancels the fetches still
// running (their promises are rejected with lwt::canceled).
class multi {
public:
    multi() {
        static std::once_flag once;
        std::call_once(once, [] {
            if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("curl_global_init failed");
        });
        m_ = curl_multi_init();
        if (m_ == nullptr) throw std::runtime_error("curl_multi_init failed");
        curl_multi_setopt(m_, CURLMOPT_SOCKETFUNCTION, &multi::on_socket);
        curl_multi_setopt(m_, CURLMOPT_SOCKETDATA, this);
        curl_multi_setopt(m_, CURLMOPT_TIMERFUNCTION, &multi::on_timer);
        curl_multi_setopt(m_, CURLMOPT_TIMERDATA, this);
    }
    multi(const multi&) = delete;
    multi& operator=(const multi&) = delete;

    ~multi() {
        while (!transfers_.empty()) end(*transfers_.begin()->second, nullptr);
        in_curl_ = true;
        curl_multi_cleanup(m_);  // (closes the cached connections: their sockets are removed)
        for (auto& [fd, w] : watched_) stop(*w);
        ++timer_gen_;
        lwt::cancel(timer_);
    }

    // Starts a GET of url; the promise settles when the transfer ends.
    lwt::promise<response> fetch(const std::string& url, const fetch_options& o = {}) {
        auto [p, r] = lwt::task<response>();
        auto t = std::make_unique<transfer>(std::move(r));
        t->url = url;
        t->max_body = o.max_body;
        t->easy = curl_easy_init();
        if (t->easy == nullptr) throw std::runtime_error("curl_easy_init failed");
        curl_easy_setopt(t->easy, CURLOPT_URL, url.c_str());
        curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, &multi::on_body);
        curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t.get());
        curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t.get());
        curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
        curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
        if (o.timeout > 0) curl_easy_setopt(t->easy, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout * 1000));
        CURL* easy = t->easy;
        transfers_.emplace(easy, std::move(t));
        CURLMcode c;
        {
            inside_curl in(*this);
            c = curl_multi_add_handle(m_, easy);
        }
        if (c != CURLM_OK) {
            transfers_.erase(easy);
            curl_easy_cleanup(easy);
            throw std::runtime_error(std::string("curl_multi_add_handle: ") + curl_multi_strerror(c));
        }
        // (libcurl starts the transfer from its timer callback: at the next iteration.)
        lwt::on_cancel(p, [this, easy] {
            if (auto i = transfers_.find(easy); i != transfers_.end()) end(*i->second, nullptr);
        });
        return p;
    }

    // Fetches running now, and sockets libcurl has asked to be watched.
    std::size_t running() const noexcept { return transfers_.size(); }
    std::size_t watched_sockets() const noexcept { return watched_.size(); }

private:
    struct transfer {
        explicit transfer(lwt::resolver<response> r) : done(std::move(r)) {}
        CURL* easy = nullptr;
        std::string url;
        std::string body;
        std::size_t max_body = 0;
        bool too_long = false;
        char error[CURL_ERROR_SIZE] = {};
        lwt::resolver<response> done;
    };
    // A socket libcurl wants watched. Shared with its watcher coroutine, which outlives the
    // entry in watched_ for as long as it takes to see `removed`.
    struct watch {
        curl_socket_t fd;
        int what = 0;          // CURL_POLL_IN, _OUT or _INOUT
        bool removed = false;  // libcurl is done with the socket: the watcher ends
        lwt::promise<int> waiting = lwt::return_(0);  // the watcher's current wait
    };

    static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* self) {
        auto& t = *static_cast<transfer*>(self);
        const std::size_t len = size * n;
        if (len > t.max_body - t.body.size()) {
            t.too_long = true;
            return 0;  // (libcurl fails the transfer with CURLE_WRITE_ERROR)
        }
        t.body.append(data, len);
        return len;
    }

    static int on_socket(CURL*, curl_socket_t fd, int what, void* self, void*) {
        auto& m = *static_cast<multi*>(self);
        auto i = m.watched_.find(fd);
        if (what == CURL_POLL_REMOVE) {
            if (i != m.watched_.end()) {
                stop(*i->second);
                m.watched_.erase(i);
            }
            return 0;
        }
        if (i == m.watched_.end()) {
            auto w = std::make_shared<watch>();
            w->fd = fd;
            w->what = what;
            m.watched_.emplace(fd, w);
            lwt::dont_wait([&m, w] { return m.watcher(w); }, [](std::exception_ptr) {});
        } else if (i->second->what != what) {
            i->second->what = what;
            lwt::cancel(i->second->waiting);  // (the watcher waits again, for the new events)
        }
        return 0;
    }

    static int on_timer(CURLM*, long timeout_ms, void* self) {
        auto& m = *static_cast<multi*>(self);
        // (Called from inside the timer coroutine's own call into libcurl too: that one is
        // running, not waiting, and is told by the generation to stop at its end.)
        const unsigned gen = ++m.timer_gen_;
        lwt::cancel(m.timer_);
        if (timeout_ms >= 0) m.timer_ = m.timer(timeout_ms, gen);
        return 0;
    }

    static void stop(watch& w) {
        w.removed = true;
        lwt::cancel(w.waiting);  // (on io_uring, the poll is out of the kernel when this returns)
    }

    // What libcurl asked for, as a promise of the CURL_CSELECT_* bits that happened.
    static lwt::promise<int> wait_for(curl_socket_t fd, int what) {
        if (what == CURL_POLL_IN) return readable(fd);
        if (what == CURL_POLL_OUT) return writable(fd);
        return lwt::pick({readable(fd), writable(fd)});
    }
    static lwt::promise<int> readable(curl_socket_t fd) {
        co_await lwt::unix_::wait_read(fd);
        co_return CURL_CSELECT_IN;
    }
    static lwt::promise<int> writable(curl_socket_t fd) {
        co_await lwt::unix_::wait_write(fd);
        co_return CURL_CSELECT_OUT;
    }

    lwt::promise<void> watcher(std::shared_ptr<watch> w) {
        while (!w->removed) {
            if (in_curl_) {
                // Started, or resumed by a cancel, from inside one of libcurl's callbacks: a
                // wait may complete at once (epoll), and libcurl must not be called back
                // into -- go on at the next iteration.
                co_await lwt::pause();
                continue;
            }
            w->waiting = wait_for(w->fd, w->what);
            int events = 0;
            try {
                events = co_await w->waiting;
            } catch (const lwt::canceled&) {
                continue;  // libcurl changed what it wants, or removed the socket
            } catch (const std::exception&) {
                events = CURL_CSELECT_ERR;  // (the wait itself failed: libcurl finds out why)
            }
            if (w->removed) break;
            act(w->fd, events);
            if (events == CURL_CSELECT_ERR) break;
        }
    }

    lwt::promise<void> timer(long timeout_ms, unsigned gen) {
        co_await lwt::unix_::sleep(static_cast<double>(timeout_ms) / 1000.0);
        if (gen == timer_gen_) act(CURL_SOCKET_TIMEOUT, 0);
    }

    // Tells libcurl what happened on fd (or that its time has come), then settles the
    // transfers that ended.
    void act(curl_socket_t fd, int events) {
        int still_running = 0;
        {
            inside_curl in(*this);
            curl_multi_socket_action(m_, fd, events, &still_running);
        }
        int left = 0;
        while (CURLMsg* msg = curl_multi_info_read(m_, &left)) {
            if (msg->msg != CURLMSG_DONE) continue;
            if (auto i = transfers_.find(msg->easy_handle); i != transfers_.end()) {
                CURLcode rc = msg->data.result;
                end(*i->second, &rc);
            }
        }
    }

    // Removes t and settles its promise: with its outcome, or (none) cancelled.
    void end(transfer& t, const CURLcode* outcome) {
        std::unique_ptr<transfer> owned = std::move(transfers_.at(t.easy));
        transfers_.erase(t.easy);
        {
            inside_curl in(*this);
            curl_multi_remove_handle(m_, t.easy);
        }
        if (outcome == nullptr) {
            t.done.reject(lwt::canceled());
        } else if (*outcome == CURLE_OK) {
            response r;
            curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &r.status);
            r.body = std::move(t.body);
            t.done.resolve(std::move(r));
        } else {
            std::string why = t.too_long ? "the body is longer than " + std::to_string(t.max_body) + " bytes"
                              : t.error[0] != '\0' ? t.error
                                                   : curl_easy_strerror(*outcome);
            t.done.reject(curl_error(*outcome, t.url + ": " + why));
        }
        curl_easy_cleanup(t.easy);
    }

    // Set while libcurl runs (and may call on_socket and on_timer): a watcher resumed then
    // must not call into libcurl.
    struct inside_curl {
        multi& m;
        explicit inside_curl(multi& x) : m(x) { m.in_curl_ = true; }
        ~inside_curl() { m.in_curl_ = false; }
        inside_curl(const inside_curl&) = delete;
        inside_curl& operator=(const inside_curl&) = delete;
    };

    CURLM* m_ = nullptr;
    bool in_curl_ = false;
    std::map<CURL*, std::unique_ptr<transfer>> transfers_;
    std::map<curl_socket_t, std::shared_ptr<watch>> watched_;
    lwt::promise<void> timer_ = lwt::return_();
    unsigned timer_gen_ = 0;
};

}  // namespace curl_lwt
