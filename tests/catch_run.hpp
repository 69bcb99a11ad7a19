// The entry into Catch2 for the test mains (catch_main.cpp, io_main.cpp), which need not
// compile its implementation themselves: catch_impl.cpp does, once.
#pragma once

#include <source_location>
#include <string>

namespace test {

// Runs the selected test cases; 77 if every one of them skipped (see support.hpp).
int run_catch(int argc, char** argv);

// Records that the running test case's claim cannot be checked here (see support.hpp).
void skip(const std::string& reason, std::source_location where = std::source_location::current());

}  // namespace test
