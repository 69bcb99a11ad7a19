// Rule 4: no stack overflow, ever -- on the 8 MiB main stack and on a 256 KiB thread stack
// (512 KiB under AddressSanitizer, whose frames are larger).
#include <lwt/bind.hpp>
#include <lwt/main.hpp>
#include <lwt/promise.hpp>

#include <catch2/catch.hpp>

#include <pthread.h>

#include <cstdio>
#include <functional>
#include <string>

namespace {

constexpr std::size_t small_stack = LWT_ASAN ? 512u << 10 : 256u << 10;

// Runs f on a fresh thread whose stack is `size` bytes; returns what f returned, or the text
// of the exception it threw.
std::string on_stack(std::size_t size, const std::function<std::string()>& f) {
    struct arg_t {
        const std::function<std::string()>* f;
        std::string out;
    } arg{&f, {}};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size);
    pthread_t t;
    auto body = [](void* a) -> void* {
        auto* x = static_cast<arg_t*>(a);
        try {
            x->out = (*x->f)();
        } catch (const std::exception& e) {
            x->out = std::string("exception: ") + e.what();
        }
        return nullptr;
    };
    REQUIRE(pthread_create(&t, &attr, body, &arg) == 0);
    pthread_join(t, nullptr);
    pthread_attr_destroy(&attr);
    return arg.out;
}

// Each scenario runs on the main thread's stack and on a small one.
void on_both_stacks(const std::function<std::string()>& f, const std::string& expected) {
    SECTION("on the main stack") { REQUIRE(f() == expected); }
    SECTION("on a small thread stack") { REQUIRE(on_stack(small_stack, f) == expected); }
}

lwt::promise<long> resolved_loop(long n) {
    long sum = 0;
    auto one = lwt::return_(1L);
    for (long i = 0; i < n; ++i) sum += co_await one;
    co_return sum;
}

lwt::promise<int> chain(int n, lwt::promise<int> root) {
    if (n == 0) co_return co_await root;
    co_return co_await chain(n - 1, root) + 1;
}

lwt::promise<int> bind_loop(int n) {
    if (n == 0) return lwt::return_(0);
    return lwt::bind(lwt::return_(n), [](int v) { return bind_loop(v - 1); });
}

lwt::promise<int> async_bind_loop(int n) {
    if (n == 0) return lwt::return_(7);
    return lwt::bind(lwt::pause(), [n] { return async_bind_loop(n - 1); });
}

}  // namespace

TEST_CASE("a 10,000,000-iteration loop of co_await on resolved promises completes") {
    on_both_stacks([] { return std::to_string(resolved_loop(10'000'000).value()); }, "10000000");
}

TEST_CASE("a 1,000,000-deep chain of coroutines each awaiting the next completes when the root resolves") {
    on_both_stacks(
        [] {
            auto w = lwt::wait<int>();
            auto top = chain(1'000'000, w.first);
            if (!top.is_pending()) return std::string("settled too early");
            w.second.resolve(5);
            return std::to_string(top.value());
        },
        "1000005");
}

TEST_CASE("a 1,000,000-deep chain of coroutines on an already resolved root completes at once") {
    on_both_stacks([] { return std::to_string(chain(1'000'000, lwt::return_(1)).value()); }, "1000001");
}

TEST_CASE("a 1,000,000-deep tail-recursive bind over resolved promises completes") {
    on_both_stacks([] { return std::to_string(bind_loop(1'000'000).value()); }, "0");
}

TEST_CASE("a 1,000,000-iteration asynchronous bind loop completes") {
    on_both_stacks([] { return std::to_string(lwt::main::run(async_bind_loop(1'000'000))); }, "7");
}

TEST_CASE("a prebuilt 1,000,000-long bind chain on one pending root completes when the root resolves") {
    on_both_stacks(
        [] {
            auto w = lwt::wait<int>();
            lwt::promise<int> p = w.first;
            for (int i = 0; i < 1'000'000; ++i) p = lwt::bind(p, [](int v) { return lwt::return_(v + 1); });
            w.second.resolve(0);
            return std::to_string(p.value());
        },
        "1000000");
}

TEST_CASE("releasing the last handle of a 1,000,000-long finished chain does not recurse") {
    on_both_stacks(
        [] {
            auto w = lwt::wait<int>();
            std::optional<lwt::promise<int>> p(w.first);
            for (int i = 0; i < 1'000'000; ++i) p = lwt::map([](int v) { return v + 1; }, *p);
            w.second.resolve(0);
            int v = p->value();
            p.reset();  // a million frames, each holding the previous one
            return std::to_string(v);
        },
        "1000000");
}

TEST_CASE("resolving a promise with a million waiting coroutines completes") {
    on_both_stacks(
        [] {
            auto w = lwt::wait<int>();
            long sum = 0;
            auto c = [&sum](lwt::promise<int> p) -> lwt::promise<void> { sum += co_await p; };
            std::vector<lwt::promise<void>> all;
            all.reserve(1'000'000);
            for (int i = 0; i < 1'000'000; ++i) all.push_back(c(w.first));
            w.second.resolve(1);
            return std::to_string(sum);
        },
        "1000000");
}
