// Lwt_preemptive: the worker pool.
#include <lwt/preemptive.hpp>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace lwt::preemptive {

// The pool lives for the whole process (never destroyed: workers may still be inside a long
// blocking call at exit).
struct pool {
    std::mutex m;
    std::condition_variable cv;
    // The jobs waiting for a worker: a FIFO linked through inbox_item::next (a job is in this
    // queue or in its loop's inbox, never both), so queueing allocates nothing.
    lwt::detail::worker_job* head = nullptr;
    lwt::detail::worker_job* tail = nullptr;
    std::size_t queued = 0;
    int min = 0;
    int max = 8;
    int threads = 0;
    int idle = 0;

    void push_locked(lwt::detail::worker_job* j) noexcept {
        j->next = nullptr;
        if (tail != nullptr)
            tail->next = j;
        else
            head = j;
        tail = j;
        ++queued;
    }
    lwt::detail::worker_job* pop_locked() noexcept {
        lwt::detail::worker_job* j = head;
        head = static_cast<lwt::detail::worker_job*>(j->next);
        if (head == nullptr) tail = nullptr;
        --queued;
        return j;
    }

    void worker() {
        std::unique_lock<std::mutex> lk(m);
        ++idle;
        for (;;) {
            cv.wait(lk, [&] { return head != nullptr || threads > max; });
            --idle;
            if (head == nullptr) {  // the bounds were lowered
                --threads;
                return;
            }
            lwt::detail::worker_job* j = pop_locked();
            lk.unlock();
            current_owner = j->owner;
            j->work();
            current_owner = nullptr;
            lk.lock();
            // Idle again before the loop hears of it: a loop that submits its next job as
            // soon as this one's result arrives finds this worker free, and starts no thread.
            ++idle;
            // The loop takes over the job (and frees it) once posted.
            j->owner->post(j);
        }
    }
    void spawn_locked() {
        ++threads;
        std::thread([this] { worker(); }).detach();
    }

    static thread_local lwt::detail::io_engine* current_owner;
};

thread_local lwt::detail::io_engine* pool::current_owner = nullptr;

pool& the_pool() {
    static pool* p = new pool();
    return *p;
}

}  // namespace lwt::preemptive

namespace lwt::detail {

void submit_job(worker_job* j) {
    j->owner = &io_engine::current();
    j->owner->jobs_outstanding.fetch_add(1, std::memory_order_relaxed);
    auto& p = lwt::preemptive::the_pool();
    std::lock_guard<std::mutex> lk(p.m);
    p.push_locked(j);
    if (static_cast<std::size_t>(p.idle) < p.queued && p.threads < p.max) p.spawn_locked();
    p.cv.notify_one();
}

}  // namespace lwt::detail

namespace lwt::preemptive {

void run_in_main_raw(std::function<void(std::function<void(std::exception_ptr)>)> start) {
    lwt::detail::io_engine* owner = pool::current_owner;
    if (owner == nullptr) throw std::logic_error("lwt::preemptive::run_in_main: not called from a worker thread");
    // Shared between this worker (waiting on the future) and the loop (running `start`, whose
    // completion callback may run later): whoever finishes last frees it.
    struct request {
        std::function<void(std::function<void(std::exception_ptr)>)> start;
        std::promise<void> done;
    };
    struct item : lwt::detail::inbox_item {
        std::shared_ptr<request> req;
    };
    auto req = std::make_shared<request>();
    req->start = std::move(start);
    std::future<void> fut = req->done.get_future();
    auto* it = new item();
    it->req = req;
    it->run = [](lwt::detail::inbox_item* i) noexcept {
        std::shared_ptr<request> r = std::move(static_cast<item*>(i)->req);
        delete static_cast<item*>(i);
        try {
            r->start([r](std::exception_ptr e) {
                if (e)
                    r->done.set_exception(e);
                else
                    r->done.set_value();
            });
        } catch (...) {
            r->done.set_exception(std::current_exception());
        }
    };
    owner->post(it);
    fut.get();  // rethrows f's exception
}

void set_bounds(int min, int max) {
    if (min < 0 || max < 1 || min > max)
        throw std::invalid_argument("lwt::preemptive::set_bounds: need 0 <= min <= max and max >= 1");
    pool& p = the_pool();
    std::lock_guard<std::mutex> lk(p.m);
    p.min = min;
    p.max = max;
    while (p.threads < p.min) p.spawn_locked();
    p.cv.notify_all();
}

std::pair<int, int> get_bounds() {
    pool& p = the_pool();
    std::lock_guard<std::mutex> lk(p.m);
    return {p.min, p.max};
}

int thread_count() {
    pool& p = the_pool();
    std::lock_guard<std::mutex> lk(p.m);
    return p.threads;
}

}  // namespace lwt::preemptive
