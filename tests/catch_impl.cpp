// Catch2's implementation, compiled once for every test executable (the single header's
// implementation part is the slowest translation unit of the suite).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "catch_run.hpp"

int test::run_catch(int argc, char** argv) { return Catch::Session().run(argc, argv); }
