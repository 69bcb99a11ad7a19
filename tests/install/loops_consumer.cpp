// A program outside the project, built against the installed lwtpp.pc: it uses exactly the
// lines that <lwt/loops.hpp> promises (issue 13's API) and checks what they give.
#include <lwt/lwt.hpp>

#include <atomic>
#include <cstdio>

int main() {
    std::size_t n = 2;
    std::size_t i = 1;
    std::atomic<int> answer{0};
    std::atomic<std::size_t> seen_count{0};
    lwt::loops::run(n, [&](std::size_t me) -> lwt::promise<void> {
        if (me == 0) {
            lwt::promise<int> r = lwt::loops::post(i, [] { return 42; });
            answer = co_await r;
            seen_count = lwt::loops::count();
        }
        co_return;
    });
    bool ok = answer == 42 && seen_count == 2 && lwt::loops::index() == 0 && lwt::loops::count() == 1;
    std::printf("%s: post gave %d, count() was %zu\n", ok ? "ok" : "FAILED", answer.load(), seen_count.load());
    return ok ? 0 : 1;
}
