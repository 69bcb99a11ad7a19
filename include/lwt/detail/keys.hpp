// Implicit callback arguments (Lwt's keys): an immutable, reference-counted list of
// (key, value) frames. `ctx.keys` is the list the running code sees; every coroutine keeps
// the list current at its creation and makes it current again each time it is resumed
// (docs/semantics.md rule 10). `with_value` pushes a frame for the duration of f()'s synchronous call.
#pragma once

#include <lwt/detail/context.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <utility>

namespace lwt::detail {

struct key_frame {
    std::uint32_t refs = 1;
    std::uint64_t id = 0;
    key_frame* parent = nullptr;
    void (*destroy)(key_frame*) noexcept = nullptr;
};

LWT_EXPORT void release_keys_slow(key_frame* k) noexcept;

LWT_INLINE key_frame* retain_keys(key_frame* k) noexcept {
    if (k != nullptr) ++k->refs;
    return k;
}
LWT_INLINE void release_keys(key_frame* k) noexcept {
    if (k != nullptr && --k->refs == 0) release_keys_slow(k);
}

template <class T>
struct key_node final : key_frame {
    std::optional<T> value;
};

LWT_EXPORT std::uint64_t new_key_id() noexcept;

// Makes `k` current for the lifetime of the scope, then restores the previous list.
struct keys_scope {
    key_frame* saved;
    explicit keys_scope(key_frame* k) noexcept : saved(ctx.keys) { ctx.keys = k; }
    keys_scope(const keys_scope&) = delete;
    keys_scope& operator=(const keys_scope&) = delete;
    ~keys_scope() { ctx.keys = saved; }
};

}  // namespace lwt::detail
