// Helpers shared by the test suites.
#pragma once

#include <lwt/engine.hpp>
#include <lwt/main.hpp>
#include <lwt/promise.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "catch_run.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LWT_TEST_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LWT_TEST_LSAN 1
#endif
#ifdef LWT_TEST_LSAN
#include <sanitizer/allocator_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

namespace test {

// Bytes of the heap in use now (the sanitizer's allocator counts them under ASan).
inline std::size_t heap_in_use() {
#ifdef LWT_TEST_LSAN
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

// A cycle of promises (a coroutine awaiting itself...) is never freed: Lwt leaves it to the
// garbage collector, lwt++ counts references. A test that builds one on purpose says so to
// LeakSanitizer for the scope (what is allocated meanwhile is not reported).
struct leaks_by_design {
#ifdef LWT_TEST_LSAN
    leaks_by_design() { __lsan_disable(); }
    ~leaks_by_design() { __lsan_enable(); }
#else
    leaks_by_design() {}
    ~leaks_by_design() {}
#endif
    leaks_by_design(const leaks_by_design&) = delete;
    leaks_by_design& operator=(const leaks_by_design&) = delete;
};

// ---------------------------------------------------------------------------------------
// Skipping: a test case whose claim cannot be checked here (this kernel, this engine) calls
// test::skip(reason) where it finds out, then returns -- after checking whatever it can
// (those assertions count as usual). Meson has no per-case skip, only a per-executable one
// (exit status 77), so:
//   - the executable exits with 77 only when every test case it ran skipped (and none
//     failed): run alone, e.g. `test_engine "a cancelled accept..."`, a skipping case is a
//     Meson SKIP;
//   - otherwise a skipped case does not change the exit status, but it is not a pass
//     either: skip() reports it with its reason as a Catch warning ("SKIPPED: ...") where
//     it happens, and the run ends with the list of skipped cases and their reasons.
// A case skips as a whole: call skip() only where the claim of its name is what cannot be
// checked. (test::skip is declared in catch_run.hpp, defined in catch_impl.cpp.)

// ---------------------------------------------------------------------------------------
// Settling: waiting for something that happens on its own -- a worker thread that starts, a
// peer that accepts or closes, a kernel completion -- without guessing how long it takes.

// Runs the loop a millisecond at a time until `done()` holds (checked before each run, so
// none runs when it holds already), for at most `limit` seconds; fails the test case naming
// `what` when the time runs out. Called outside the loop: it calls main::run.
template <class Done>
void settle(Done done, const std::string& what, double limit = 5.0) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit);
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) FAIL("still waiting after " << limit << " s for " << what);
        lwt::main::run(lwt::unix_::sleep(0.001));
    }
}

// Runs the loop until no operation is in flight (I/O, worker jobs).
inline void settle_idle(double limit = 5.0) {
    settle([] { return lwt::engine::live_operations() == 0; }, "no operation in flight", limit);
}

template <class E, class T>
bool rejected_with(const lwt::promise<T>& p) {
    if (p.state() != lwt::state::rejected) return false;
    try {
        std::rethrow_exception(p.exception());
    } catch (const E&) {
        return true;
    } catch (...) {
    }
    return false;
}

template <class T>
bool is_canceled(const lwt::promise<T>& p) {
    return rejected_with<lwt::canceled>(p);
}

// Runs the loop until p settles; the unix_error p was rejected with (fails the test
// otherwise).
template <class T>
lwt::unix_::unix_error unix_failure(lwt::promise<T> p) {
    lwt::main::run([p]() -> lwt::promise<void> {
        try {
            co_await p;
        } catch (...) {
        }
    });
    REQUIRE(p.state() == lwt::state::rejected);
    try {
        std::rethrow_exception(p.exception());
    } catch (const lwt::unix_::unix_error& e) {
        return e;
    }
    FAIL("not a unix_error");
    return lwt::unix_::unix_error(0, "", "");
}

// Records what reaches lwt::async_exception_hook for the scope.
struct hook_recorder {
    std::vector<std::string> seen;
    std::function<void(std::exception_ptr)> saved;
    hook_recorder() : saved(lwt::async_exception_hook) {
        lwt::async_exception_hook = [this](std::exception_ptr e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                seen.emplace_back(x.what());
            } catch (...) {
                seen.emplace_back("?");
            }
        };
    }
    ~hook_recorder() { lwt::async_exception_hook = saved; }
};

// Open descriptors of this process.
inline int open_fds() {
    int n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (dirent* e = ::readdir(d))
            if (e->d_name[0] != '.') ++n;
        ::closedir(d);
        --n;  // the directory stream's own descriptor
    }
    return n;
}

// A fresh temporary directory, removed (with its files) at the end of the scope.
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/lwtpp-test-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() {
        std::string cmd = "rm -rf '" + path + "'";
        [[maybe_unused]] int r = std::system(cmd.c_str());
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

// What `f` writes to stderr (fd 2), and what it returns.
template <class F>
std::pair<std::string, int> with_stderr_captured(F f) {
    std::fflush(stderr);
    int saved = ::dup(2);
    FILE* tmp = std::tmpfile();
    ::dup2(::fileno(tmp), 2);
    int status = f();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::string out;
    std::rewind(tmp);
    char buf[256];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, tmp)) out.append(buf, n);
    std::fclose(tmp);
    return {out, status};
}

}  // namespace test
