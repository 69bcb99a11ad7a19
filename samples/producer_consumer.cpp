// producer_consumer: a bounded stream between a fast producer and slower consumers. The
// producer waits whenever the stream holds 4 items (back-pressure); each item goes to exactly
// one consumer.
//
//   try: build/samples/producer_consumer
#include <lwt/lwt.hpp>

#include <string>
#include <vector>

using namespace lwt;

promise<void> producer(stream<int>::bounded_push push, int n) {
    for (int i = 1; i <= n; ++i) {
        co_await push.push(i);  // blocks while 4 items wait
        co_await io::printlf("produced {:>2} (queued: {})", i, push.count());
    }
    push.close();
}

promise<int> consumer(stream<int> s, std::string name) {
    int handled = 0;
    while (auto item = co_await s.get()) {
        co_await unix_::sleep(0.005);  // work
        co_await io::printlf("  {} consumed {:>2}", name, *item);
        ++handled;
    }
    co_return handled;
}

int main() {
    return main::run_program([]() -> promise<void> {
        auto [s, push] = stream<int>::create_bounded(4);
        auto p = producer(push, 20);
        auto a = consumer(s, "alice");
        auto b = consumer(s, "bob");
        auto counts = co_await both(a, b);
        co_await p;
        co_await io::printlf("alice handled {}, bob handled {}", counts.first, counts.second);
    });
}
