// The entry into Catch2 for the test mains (catch_main.cpp, io_main.cpp), which need not
// compile its implementation themselves: catch_impl.cpp does, once.
#pragma once

namespace test {
int run_catch(int argc, char** argv);
}
