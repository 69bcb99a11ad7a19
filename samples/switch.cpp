// switch: the guide's Lwt_switch example -- connections register a hook on a switch, and
// with_switch closes them all when the function ends, also when it fails.
//
//   try: build/samples/switch
#include <lwt/lwt.hpp>

#include <cstdio>
#include <stdexcept>

using namespace lwt;

struct connection {
    int id;
};

// Opens a connection whose closing is tied to the switch.
promise<connection> connect(switch_ sw, int id) {
    co_await unix_::sleep(0.001);  // (pretend to connect)
    std::printf("connection %d opened\n", id);
    sw.add_hook([id]() -> promise<void> {
        std::printf("connection %d closed by the switch\n", id);
        co_return;
    });
    co_return connection{id};
}

int main() {
    main::run(switch_::with_switch([](switch_ sw) -> promise<void> {
        auto a = co_await connect(sw, 1);
        auto b = co_await connect(sw, 2);
        std::printf("using connections %d and %d\n", a.id, b.id);
    }));
    try {
        main::run(switch_::with_switch([](switch_ sw) -> promise<void> {
            co_await connect(sw, 3);
            throw std::runtime_error("something failed while connected");
        }));
    } catch (const std::exception& e) {
        std::printf("failed (%s), yet the connection was closed\n", e.what());
    }
}
