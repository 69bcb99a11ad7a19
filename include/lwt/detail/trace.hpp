// Recording what the runtime does, for lwt::main::dump and LWT_TRACE (lib/detail/trace.cpp).
//
// Reading guide
// -------------
// Two switches per thread, bits of `ctx.tracing`:
// - `record_coroutines`: each coroutine made from then on takes a slot in the thread's
//   registry (coro_info::trace_slot), and notes at each suspension its await point and the
//   time. lwt::main::dump walks the registry. Turned on by main::record_coroutines,
//   main::dump_on_signal and LWT_TRACE.
// - `trace_events`: the notes also become events of a Chrome trace (LWT_TRACE=<file>): a
//   coroutine's runs (start or resumption to suspension or end) as nested slices on its loop's
//   track, I/O operations from suspension on them to completion, sleeps, loop iterations.
//
// Cost when off: the coroutine's constructor tests `ctx.tracing` (in the cache line the
// constructor reads for the keys); suspensions, resumptions and ends test the coroutine's
// `flags`, which they tested already for the trampoline; the engine tests one flag per
// completion, the one the stall timing already tested. Nothing is allocated.
//
// Await points. A suspension calls note_suspension from code inlined into the co_await
// (coro_info::suspending), so its return address lies in the coroutine's own code at that
// co_await; `addr2line -i` turns it into the function and file:line (symbolize). Nothing is
// resolved until something is printed.
//
// Lifetimes. A slot lives from the coroutine's construction to its final suspension (a
// suspended coroutine's frame is never destroyed: it holds its own reference until it ends).
// Everything here belongs to one thread (rule 13), except the trace file: threads hand full
// batches of events to a writer thread (a mutex-guarded, bounded queue), which resolves the
// addresses and writes the JSON, so no loop waits for addr2line or the disk.
#pragma once

#include <lwt/detail/config.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace lwt::detail {

struct cell_base;
struct coro_info;
struct io_op;

inline constexpr std::uint8_t record_coroutines = 1;
inline constexpr std::uint8_t trace_events = 2;

// ---- coroutines (called only for recorded ones, or while ctx.tracing != 0 for note_start) ----
LWT_EXPORT void note_start(cell_base* c, coro_info* info) noexcept;
// Its return address is the await point: called from code inlined into the co_await.
LWT_EXPORT LWT_NOINLINE void note_suspension(coro_info* info) noexcept;
LWT_EXPORT void note_foreign_wait(coro_info* info) noexcept;  // the await is not the runtime's
LWT_EXPORT void note_resumption(coro_info* info) noexcept;
LWT_EXPORT void note_deferred_start(coro_info* info) noexcept;  // its start waits for the trampoline
LWT_EXPORT void note_end(coro_info* info) noexcept;

// ---- the engine (only while ctx.tracing & trace_events) ----
// An operation is handed to the engine (one a coroutine awaits directly begins at its
// suspension, note_suspension).
LWT_EXPORT void trace_op_begin(const io_op& op) noexcept;
// An operation completes; `resumes`: the coroutine its completion resumes (null: none, or
// not recorded).
LWT_EXPORT void trace_op_end(const io_op& op, coro_info* resumes) noexcept;
LWT_EXPORT void trace_timer_begin(const void* timer, std::int64_t deadline_ns) noexcept;
LWT_EXPORT void trace_timer_end(const void* timer, bool fired) noexcept;
LWT_EXPORT void trace_iteration(std::int64_t begin_ns, std::int64_t end_ns) noexcept;
// Starts this thread's recording as the process's settings say (a loop thread, or a thread
// whose engine is made after record_coroutines or with LWT_TRACE set).
LWT_EXPORT void inherit_tracing() noexcept;
// Writes out what this thread traced so far (its exit, or a trace that must be read now).
LWT_EXPORT void flush_trace() noexcept;
// Names this thread's track in the trace ("lwt loop <i>"; loops::run).
LWT_EXPORT void name_trace_thread(std::string name) noexcept;
// main::record_coroutines: this thread, and the threads whose engines are made later.
LWT_EXPORT void set_process_recording(bool on) noexcept;

// ---- reading the registry ----
// A coroutine's code (its frame's resume function, 16 bytes before its promise with g++ and
// clang), for cells whose maker is a coroutine; null otherwise. g++ clears it at the end.
LWT_EXPORT const void* code_of(const cell_base* c) noexcept;
// Every suspended coroutine of this thread that is recorded, as trees of who awaits whom
// (describe.cpp; describe_awaited, in state.hpp, is the tree of one cell).
LWT_EXPORT std::string dump_suspended();
struct recorded_coroutine {
    cell_base* cell;
    coro_info* info;
    const void* code;      // its resume function (null: unknown)
    const void* where;     // the return address of its last suspension (null: never suspended)
    std::int64_t since_ns; // when it suspended
    bool foreign;          // suspended on an awaitable that is not the runtime's
};
// The coroutines of this thread that are suspended now.
LWT_EXPORT std::vector<recorded_coroutine> suspended_coroutines();

// Where code is: the function (demangled, without the compiler's clone suffixes) and, when
// the debug information has it, the file and line -- the outermost frame of what was inlined
// there (for an await point, the co_await in the coroutine's own code). One addr2line per
// module per call; where that is missing, dladdr's answer (name_of_code).
struct code_place {
    std::string function;
    std::string file;  // empty: unknown
    unsigned line = 0;
};
// `return_addresses`: the addresses follow a call (looked up one byte before).
LWT_EXPORT std::vector<code_place> symbolize(const std::vector<const void*>& addresses, bool return_addresses);

}  // namespace lwt::detail
