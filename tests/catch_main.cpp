// The main of the core suites.
#include "catch_run.hpp"

int main(int argc, char** argv) { return test::run_catch(argc, argv); }
