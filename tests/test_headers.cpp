// The `headers` suite: every installed header was compiled on its own, in its own translation
// unit, with -std=gnu++20 (where `unix` is a predefined macro) -- linking is the proof.
#include <catch2/catch.hpp>

#define LWT_HEADER(name) int header_tu_##name();
#include "headers.def"
#undef LWT_HEADER

TEST_CASE("every installed header compiles on its own") {
#define LWT_HEADER(name) REQUIRE(header_tu_##name() == 0);
#include "headers.def"
#undef LWT_HEADER
}
