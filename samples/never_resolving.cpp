// never_resolving: the guide's `let never = fst (Lwt.wait ())`. Lwt_main.run on it blocks
// forever; lwt++ notices that nothing can ever resolve it and says so (docs/semantics.md rule 16).
//
//   try: build/samples/never_resolving
#include <lwt/lwt.hpp>

#include <cstdio>
#include <stdexcept>

int main() {
    auto never = lwt::wait<void>().first;  // nobody can resolve it: its resolver is gone
    try {
        lwt::main::run(never);
    } catch (const std::logic_error& e) {
        std::printf("run refused to wait forever: %s\n", e.what());
    }
    // A never-resolving promise is still useful as one side of a race:
    auto [forever, keep_resolver] = lwt::wait<int>();
    int v = lwt::main::run(lwt::pick(forever, lwt::bind(lwt::unix_::sleep(0.01), [] { return lwt::return_(1); })));
    std::printf("pick with a never-resolving promise gave %d\n", v);
}
