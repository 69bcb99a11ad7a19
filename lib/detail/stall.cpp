// The warning printed when one loop iteration runs longer than the stall threshold
// (io_engine::set_stall_threshold, LWT_STALL_MS): how long it ran, and its longest step --
// the operation whose completion ran longest and the coroutine that completion resumed,
// named by its code (its resume function, the frame's first word with both g++ and clang).
#include <lwt/detail/engine.hpp>

#include <cxxabi.h>
#include <dlfcn.h>
#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace lwt::detail {

std::string name_of_code(const void* fn) {
    Dl_info info{};
    if (fn == nullptr || ::dladdr(fn, &info) == 0) return fmt::format("code at {}", fn);
    if (info.dli_sname != nullptr) {
        int status = 0;
        char* d = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
        std::string name = status == 0 && d != nullptr ? d : info.dli_sname;
        std::free(d);
        return name;
    }
    // A symbol the dynamic table does not export (an executable without -rdynamic): where
    // to look it up, `addr2line -f -C -e <file> <offset>`.
    const auto offset = static_cast<std::size_t>(static_cast<const char*>(fn) - static_cast<const char*>(info.dli_fbase));
    const char* file = info.dli_fname != nullptr ? info.dli_fname : "?";
    return fmt::format("{}+{:#x} (`addr2line -f -C -e {} {:#x}` names it)", file, offset, file, offset);
}

void report_stall(std::int64_t busy_ns, std::int64_t threshold_ns, std::int64_t step_ns, const char* kind, int fd,
                  const void* code) noexcept {
    try {
        std::string line = fmt::format("lwt: stall: a loop iteration ran {:.1f} ms (threshold {:.1f} ms)",
                                       static_cast<double>(busy_ns) / 1e6, static_cast<double>(threshold_ns) / 1e6);
        if (kind != nullptr) {
            line += fmt::format("; its longest step, {:.1f} ms, was the completion of a {} on fd {}", static_cast<double>(step_ns) / 1e6,
                                kind, fd);
            if (code != nullptr) line += ", which resumed " + name_of_code(code);
        } else {
            line += "; no operation's completion took long (timers, pauses or other work ran)";
        }
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), stderr);  // (one write: not interleaved)
    } catch (...) {
    }
}

}  // namespace lwt::detail
