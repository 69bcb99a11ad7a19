// <lwt/pool.hpp>: Lwt_pool.
#include <lwt/main.hpp>
#include <lwt/pool.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <string>
#include <vector>

using namespace lwt;

namespace {
struct conn {
    int id;
    bool healthy = true;
};
}  // namespace

TEST_CASE("members are created lazily, up to n, and reused") {
    int made = 0;
    pool<conn> p(2, [&] { return return_(conn{++made}); });
    REQUIRE(made == 0);
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 1);
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 1);  // reused
    REQUIRE(made == 1);
    auto hold = task<void>();
    auto a = p.use([&](conn&) { return hold.first; });
    auto b = p.use([](conn& c) { return return_(c.id); });
    REQUIRE(main::run(b) == 2);  // the first is lent: a second one is made
    REQUIRE(made == 2);
    REQUIRE(p.size() == 2);
    hold.second.resolve();
    main::run(a);
}

TEST_CASE("a pool of no member is std::invalid_argument") {
    REQUIRE_THROWS_AS(pool<conn>(0, [] { return return_(conn{0}); }), std::invalid_argument);
}

TEST_CASE("waiters are served FIFO when every member is lent") {
    pool<conn> p(1, [] { return return_(conn{1}); });
    auto hold = task<void>();
    auto busy = p.use([&](conn&) { return hold.first; });
    std::vector<std::string> order;
    auto user = [&](std::string name) {
        return p.use([&order, name](conn&) -> promise<void> {
            order.push_back(name);
            co_return;
        });
    };
    auto a = user("a");
    auto b = user("b");
    auto c = user("c");
    REQUIRE(p.wait_queue_length() == 3);
    hold.second.resolve();
    main::run(join(a, b, c, busy));
    REQUIRE(order == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a waiting use is cancelable: it leaves the queue and never runs") {
    pool<conn> p(1, [] { return return_(conn{1}); });
    auto hold = task<void>();
    auto busy = p.use([&](conn&) { return hold.first; });
    std::vector<std::string> order;
    auto a = p.use([&](conn&) -> promise<void> {
        order.push_back("a");
        co_return;
    });
    auto b = p.use([&](conn&) -> promise<void> {
        order.push_back("b");
        co_return;
    });
    auto c = p.use([&](conn&) -> promise<void> {
        order.push_back("c");
        co_return;
    });
    REQUIRE(p.wait_queue_length() == 3);
    cancel(b);
    REQUIRE(test::is_canceled(b));
    REQUIRE(p.wait_queue_length() == 2);
    hold.second.resolve();
    main::run(join(a, c, busy));
    REQUIRE(order == std::vector<std::string>{"a", "c"});
}

TEST_CASE("cancelling a use while f runs reaches what f awaits and gives the member back") {
    int made = 0;
    pool<conn> p(1, [&] { return return_(conn{++made}); });
    auto gate = task<void>();
    auto u = p.use([&](conn&) { return gate.first; });
    cancel(u);
    REQUIRE(test::is_canceled(gate.first));  // the cancellation reached f's wait
    REQUIRE_THROWS_AS(main::run(u), lwt::canceled);
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 1);  // the member is back
    REQUIRE(made == 1);
}

TEST_CASE("a reused member is validated; an invalid one is disposed of and replaced") {
    int made = 0;
    std::vector<int> disposed;
    pool<conn> p(
        1, [&] { return return_(conn{++made}); }, [](const conn& c) { return return_(c.healthy); }, {},
        [&](conn& c) {
            disposed.push_back(c.id);
            return return_();
        });
    main::run(p.use([](conn& c) {
        c.healthy = false;  // goes back to the pool broken
        return return_();
    }));
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 2);
    REQUIRE(disposed == std::vector<int>{1});
}

TEST_CASE("when f fails, check decides whether the member goes back or is disposed of") {
    int made = 0;
    int disposed = 0;
    pool<conn> p(
        1, [&] { return return_(conn{++made}); }, {}, [](const conn& c) { return c.healthy; },
        [&](conn&) {
            ++disposed;
            return return_();
        });
    REQUIRE_THROWS_AS(main::run(p.use([](conn&) -> promise<void> { throw std::runtime_error("still fine"); })),
                      std::runtime_error);
    REQUIRE(disposed == 0);
    REQUIRE_THROWS_AS(main::run(p.use([](conn& c) -> promise<void> {
                          c.healthy = false;
                          throw std::runtime_error("broken");
                      })),
                      std::runtime_error);
    REQUIRE(disposed == 1);
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 2);
}

TEST_CASE("a failing make gives its failure to the user and frees the slot") {
    int attempts = 0;
    pool<conn> p(1, [&]() -> promise<conn> {
        if (++attempts == 1) throw std::runtime_error("cannot connect");
        co_return conn{attempts};
    });
    REQUIRE_THROWS_AS(main::run(p.use([](conn&) { return return_(); })), std::runtime_error);
    REQUIRE(p.size() == 0);
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 2);
}

TEST_CASE("clear disposes of idle members now and of lent ones when they return") {
    std::vector<int> disposed;
    int made = 0;
    pool<conn> p(
        2, [&] { return return_(conn{++made}); }, {}, {},
        [&](conn& c) {
            disposed.push_back(c.id);
            return return_();
        });
    main::run(p.use([](conn&) { return return_(); }));  // member 1 idle
    auto hold = task<void>();
    auto lent = p.use([&](conn&) { return hold.first; });  // member 1 lent again
    main::run(p.use([](conn&) { return return_(); }));    // member 2 made, idle
    main::run(p.clear());
    REQUIRE(disposed == std::vector<int>{2});
    hold.second.resolve();
    main::run(lent);
    REQUIRE(disposed == std::vector<int>{2, 1});
    REQUIRE(main::run(p.use([](conn& c) { return return_(c.id); })) == 3);
}
