// The main of the I/O suites. They run once per engine: LWT_ENGINE=uring|epoll selects it,
// and LWT_EXPECT_ENGINE (set for the run under tools/noring) says which one must have been
// chosen. A uring run where io_uring is unavailable on this machine is skipped (exit 77).
#include <lwt/engine.hpp>

#include "catch_run.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    std::string id(lwt::engine::id());
    if (const char* want = std::getenv("LWT_EXPECT_ENGINE")) {
        if (id != want) {
            std::fprintf(stderr, "engine is %s, expected %s\n", id.c_str(), want);
            return 1;
        }
    } else if (const char* req = std::getenv("LWT_ENGINE"); req != nullptr && std::string(req) == "uring" && id != "uring") {
        std::fprintf(stderr, "io_uring is not available here: the uring run is skipped\n");
        return 77;
    }
    return test::run_catch(argc, argv);
}
