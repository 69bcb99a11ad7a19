// cat: copies files (or standard input) to standard output through Lwt_io channels.
//
//   cat [FILE...]
//   try: build/samples/cat README.md ; echo hi | build/samples/cat
#include <lwt/lwt.hpp>

#include <cstdio>
#include <string>
#include <vector>

using namespace lwt;

promise<void> copy(io::input_channel ic) {
    std::string chunk;
    while (!(chunk = co_await io::read(ic, 65536)).empty()) co_await io::write(io::stdout_, chunk);
}

promise<int> cat(std::vector<std::string> files) {
    if (files.empty()) co_await copy(io::stdin_);
    int status = 0;
    for (const auto& f : files) {
        std::string failure;
        try {
            co_await io::with_file(io::input, f, [](io::input_channel& ic) { return copy(ic); });
        } catch (const unix_::unix_error& e) {
            failure = e.what();  // (no co_await inside a handler)
        }
        if (!failure.empty()) {
            co_await io::eprintlf("cat: {}", failure);
            status = 1;
        }
    }
    co_await io::flush(io::stdout_);
    co_return status;
}

int main(int argc, char** argv) { return main::run_program(cat(std::vector<std::string>(argv + 1, argv + argc))); }
