// Compiler and build configuration shared by every lwt++ header.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define LWT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LWT_ASAN 1
#endif
#endif
#ifndef LWT_ASAN
#define LWT_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define LWT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LWT_TSAN 1
#endif
#endif
#ifndef LWT_TSAN
#define LWT_TSAN 0
#endif

#define LWT_LIKELY(x) __builtin_expect(!!(x), 1)
#define LWT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define LWT_NOINLINE __attribute__((noinline))
#define LWT_COLD __attribute__((noinline, cold))
#define LWT_INLINE inline __attribute__((always_inline))
#define LWT_EXPORT __attribute__((visibility("default")))
// Thread-locals of the runtime are reached from inline code in user programs and from the
// shared library; initial-exec keeps every access a single %fs-relative load instead of a
// __tls_get_addr call (the library is linked at start-up, never dlopen'ed late).
#define LWT_TLS thread_local __attribute__((tls_model("initial-exec")))
