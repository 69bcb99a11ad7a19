// Counts every global operator new of the program that includes it (once, in one
// translation unit): benchmarks and tests that report allocations per operation. Every
// replaceable form but the aligned ones is replaced, so that each block goes back to free
// (AddressSanitizer checks the pairing).
//
// Shared by bench/ and tests/: both meson.build files put bench/support/ on the include
// path, and the sources say #include "count_new.hpp".
#pragma once

#include <cstdint>
#include <cstdlib>
#include <new>

namespace count_new {
inline std::uint64_t calls = 0;
inline void* counted(std::size_t n) noexcept {
    ++calls;
    return std::malloc(n != 0 ? n : 1);
}
inline void* counted_or_throw(std::size_t n) {
    if (void* p = counted(n)) return p;
    throw std::bad_alloc();
}
}  // namespace count_new

void* operator new(std::size_t n) { return count_new::counted_or_throw(n); }
void* operator new[](std::size_t n) { return count_new::counted_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return count_new::counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return count_new::counted(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
