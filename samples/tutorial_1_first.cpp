// tutorial_1_first: docs/tutorial.md, step 1 -- a first coroutine. A function returning
// lwt::promise<T> is a coroutine; calling it starts it at once (it runs until its first
// co_await that has to wait), and main::run drives the loop until its promise settles.
//
//   try: build/samples/tutorial_1_first
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <string>

using namespace std::chrono_literals;

lwt::promise<std::string> greet(std::string name) {
    fmt::print("hello, {}\n", name);  // runs during the call: coroutines start eagerly
    co_await lwt::unix_::sleep(100ms);  // suspends; the loop resumes us 100 ms later
    fmt::print("goodbye, {}\n", name);
    co_return "greeted " + name;
}

int main() {
    lwt::promise<std::string> p = greet("world");
    fmt::print("greet returned; pending: {}\n", p.is_pending());
    std::string result = lwt::main::run(p);
    fmt::print("{}\n", result);
}
