// CHECK(cond) for the fuzz targets: a failed check is a crash, which libFuzzer reports with
// the input that caused it (assert would vanish under NDEBUG).
#pragma once

#include <cstdio>
#include <cstdlib>

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);      \
            std::abort();                                                                        \
        }                                                                                        \
    } while (0)
