// Lwt_io's writers: characters, strings, lines, streams of lines, from a buffer; formatted
// output; flushing.
//
// Output channels flush themselves when idle: data written in one loop iteration is flushed
// at the next (Lwt's auto-flush), or when the buffer fills, or by flush().
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace lwt::io {

LWT_EXPORT promise<void> write_char(const output_channel& oc, char c);
LWT_EXPORT promise<void> write(const output_channel& oc, std::string_view s);
LWT_EXPORT promise<void> write_line(const output_channel& oc, std::string_view s);
// Writes every line of the stream (each followed by "\n").
LWT_EXPORT promise<void> write_lines(const output_channel& oc, stream<std::string> lines);
// Up to len bytes of buf (at least 1 when len > 0) / all len bytes.
LWT_EXPORT promise<std::size_t> write_from(const output_channel& oc, const char* buf, std::size_t len);
LWT_EXPORT promise<void> write_from_exactly(const output_channel& oc, const char* buf, std::size_t len);
LWT_EXPORT promise<void> flush(const output_channel& oc);
// Flushes every open output channel of this loop (with loops::run, each loop flushes its own).
LWT_EXPORT promise<void> flush_all();

// Formatted output (fmt syntax). printf/printlf write to stdout_ (or to oc when given first);
// eprintf/eprintlf to stderr_; fprintf/fprintlf to oc. The "l" forms add a newline.
template <class... A>
promise<void> fprintf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> fprintlf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write_line(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printlf(const output_channel& oc, fmt::format_string<A...> f, A&&... a) {
    return write_line(oc, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printf(fmt::format_string<A...> f, A&&... a) {
    return write(stdout_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> printlf(fmt::format_string<A...> f, A&&... a) {
    return write_line(stdout_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> eprintf(fmt::format_string<A...> f, A&&... a) {
    return write(stderr_, fmt::format(f, std::forward<A>(a)...));
}
template <class... A>
promise<void> eprintlf(fmt::format_string<A...> f, A&&... a) {
    return write_line(stderr_, fmt::format(f, std::forward<A>(a)...));
}

}  // namespace lwt::io
