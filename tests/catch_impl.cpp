// Catch2's implementation, compiled once for every test executable (the single header's
// implementation part is the slowest translation unit of the suite), and the skipping of
// test cases whose claim cannot be checked here (test::skip, see support.hpp).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "catch_run.hpp"

#include <cstddef>
#include <iostream>
#include <map>
#include <string>

namespace {

struct skip_record {
    std::size_t cases_run = 0;                   // test cases started (a case with sections once)
    std::map<std::string, std::string> skipped;  // test case -> why its claim was not checked
};

skip_record& record() {
    static skip_record r;
    return r;
}

struct case_counter : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;
    void testCaseStarting(Catch::TestCaseInfo const& info) override {
        ++record().cases_run;
        TestEventListenerBase::testCaseStarting(info);
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(case_counter)

void test::skip(const std::string& reason, const char* file, int line) {
    WARN("SKIPPED (" << file << ":" << line << "): " << reason);
    record().skipped.emplace(Catch::getResultCapture().getCurrentTestName(), reason);
}

int test::run_catch(int argc, char** argv) {
    int r = Catch::Session().run(argc, argv);
    const skip_record& rec = record();
    if (!rec.skipped.empty()) {
        std::cout << rec.skipped.size() << " of " << rec.cases_run
                  << " test cases skipped (not counted as passed: their claim was not checked):\n";
        for (const auto& [name, why] : rec.skipped) std::cout << "  " << name << "\n    -- " << why << "\n";
        std::cout.flush();
    }
    // Exit status 77 (Meson: skipped) only when nothing that ran was checked.
    if (r == 0 && rec.cases_run > 0 && rec.skipped.size() == rec.cases_run) return 77;
    return r;
}
