#include <lwt/promise.hpp>
#include <catch2/catch.hpp>

TEST_CASE("a coroutine runs eagerly up to its first await of a pending promise") {
    int step = 0;
    auto [p, r] = lwt::wait<int>();
    auto c = [&](lwt::promise<int> x) -> lwt::promise<int> {
        step = 1;
        int v = co_await x;
        step = 2;
        co_return v + 1;
    };
    auto q = c(p);
    REQUIRE(step == 1);
    REQUIRE(q.is_pending());
    r.resolve(41);
    REQUIRE(step == 2);
    REQUIRE(q.value() == 42);
}
