// Helpers shared by the test suites.
#pragma once

#include <lwt/promise.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <vector>

namespace test {

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

}  // namespace test
