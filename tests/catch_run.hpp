// The entry into Catch2 for the test mains (catch_main.cpp, io_main.cpp), which need not
// compile its implementation themselves: catch_impl.cpp does, once.
#pragma once

#include <string>

namespace test {

// Runs the selected test cases; 77 if every one of them skipped (see support.hpp).
int run_catch(int argc, char** argv);

// Records that the running test case's claim cannot be checked here (see support.hpp).
// (The caller's place comes from __builtin_FILE/__builtin_LINE: clang 14 with libstdc++ 12 has
// no std::source_location.)
void skip(const std::string& reason, const char* file = __builtin_FILE(), int line = __builtin_LINE());

}  // namespace test
