// tutorial_2_awaiting: docs/tutorial.md, step 2 -- awaiting. A promise is a value that
// can be awaited many times, by many coroutines; a failure is an exception that comes out
// of co_await; wait() makes a promise you settle yourself with its resolver.
//
//   try: build/samples/tutorial_2_awaiting
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <stdexcept>
#include <string>

lwt::promise<void> reader(std::string name, lwt::promise<int> p) {
    int v = co_await p;  // suspends until p is settled
    fmt::print("{} got {}\n", name, v);
}

lwt::promise<int> parse(std::string text) {
    if (text.empty()) throw std::invalid_argument("empty input");  // rejects the promise
    co_return std::stoi(text);
}

lwt::promise<void> program() {
    auto [p, r] = lwt::wait<int>();  // a pending promise and the resolver that settles it
    auto a = reader("a", p);
    auto b = reader("b", p);  // the same promise, awaited twice
    lwt::wakeup(r, 42);       // both readers resume
    co_await lwt::join(a, b);

    fmt::print("parse(\"7\") = {}\n", co_await parse("7"));
    try {
        co_await parse("");
    } catch (const std::invalid_argument& e) {
        fmt::print("parse(\"\") failed: {}\n", e.what());
    }
}

int main() { return lwt::main::run_program(program()); }
