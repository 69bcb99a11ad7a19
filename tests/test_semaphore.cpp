// <lwt/semaphore.hpp>: a counting semaphore (beyond Lwt).
#include <lwt/main.hpp>
#include <lwt/semaphore.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <stdexcept>
#include <vector>

using namespace lwt;

TEST_CASE("acquire is immediate while permits are free, then waits") {
    semaphore s(2);
    REQUIRE(s.acquire().state() == lwt::state::fulfilled);
    REQUIRE(s.acquire().state() == lwt::state::fulfilled);
    REQUIRE(s.available() == 0);
    auto third = s.acquire();
    REQUIRE(third.is_pending());
    REQUIRE(s.waiting() == 1);
    s.release();
    main::run(third);
    REQUIRE(s.available() == 0);  // (the released permit went to the waiter)
    REQUIRE(s.waiting() == 0);
}

TEST_CASE("release hands permits to the waiters oldest first") {
    semaphore s(0);
    std::vector<int> order;
    auto waiter = [&](int id) -> promise<void> {
        co_await s.acquire();
        order.push_back(id);
    };
    auto a = waiter(1);
    auto b = waiter(2);
    auto c = waiter(3);
    s.release(2);
    main::run(join(a, b));
    REQUIRE(order == std::vector<int>{1, 2});
    REQUIRE(c.is_pending());
    s.release();
    main::run(c);
    REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a free permit does not let a new acquire overtake a waiting one") {
    semaphore s(1);
    main::run(s.acquire());
    auto waiting = s.acquire();
    s.release();  // to the waiter, not to whoever asks next
    REQUIRE_FALSE(s.try_acquire());
    auto later = s.acquire();
    REQUIRE(later.is_pending());
    main::run(waiting);
    s.release();
    main::run(later);
}

TEST_CASE("try_acquire takes a free permit or none") {
    semaphore s(1);
    REQUIRE(s.try_acquire());
    REQUIRE_FALSE(s.try_acquire());
    s.release();
    REQUIRE(s.available() == 1);
}

TEST_CASE("a cancelled acquire leaves the queue and holds nothing") {
    semaphore s(0);
    auto first = s.acquire();
    auto second = s.acquire();
    cancel(first);
    REQUIRE(first.state() == lwt::state::rejected);
    REQUIRE(s.waiting() == 1);
    s.release();
    main::run(second);  // the permit went to the one still waiting
    REQUIRE(s.available() == 0);
}

TEST_CASE("with_permit bounds how many run at once, and gives the permit back on failure") {
    semaphore s(3);
    int running = 0, most = 0;
    std::vector<std::pair<promise<void>, resolver<void>>> gates;
    for (int i = 0; i < 10; ++i) gates.push_back(wait<void>());
    std::vector<promise<void>> jobs;
    for (int i = 0; i < 10; ++i)
        jobs.push_back(s.with_permit([&, i]() -> promise<void> {
            ++running;
            most = std::max(most, running);
            co_await gates[i].first;
            --running;
            if (i == 0) throw std::runtime_error("job 0 failed");
        }));
    for (int i = 0; i < 10; ++i) wakeup_later(gates[i].second);
    for (int i = 1; i < 10; ++i) main::run(jobs[i]);
    REQUIRE_THROWS_AS(main::run(jobs[0]), std::runtime_error);
    REQUIRE(most == 3);
    REQUIRE(s.available() == 3);
}

TEST_CASE("with_permit cancelled while waiting never runs f") {
    semaphore s(0);
    bool ran = false;
    auto job = s.with_permit([&]() -> promise<void> {
        ran = true;
        co_return;
    });
    cancel(job);
    REQUIRE(job.state() == lwt::state::rejected);
    s.release();
    REQUIRE_FALSE(ran);
    REQUIRE(s.available() == 1);
}
