// Shared by the sample servers: a connection's failure (a client that vanished mid-write...)
// is logged instead of ending the program -- lwt::async_exception_hook's default, like Lwt's,
// prints and exits.
#pragma once

#include <lwt/promise.hpp>

#include <fmt/core.h>

#include <exception>

inline void log_failures(const char* program) {
    lwt::async_exception_hook = [program](std::exception_ptr e) {
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& x) {
            fmt::print(stderr, "{}: a connection failed: {}\n", program, x.what());
        } catch (...) {
            fmt::print(stderr, "{}: a connection failed\n", program);
        }
    };
}
