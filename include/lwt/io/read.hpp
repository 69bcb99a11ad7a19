// Lwt_io's readers: characters, lines, counts of bytes, everything; into a buffer; as
// streams. Each waits for the operations queued on the channel before it.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>

namespace lwt::io {

// A line longer than the reader's limit (beyond Lwt, whose lines are unbounded): what was
// read of it is dropped and the rest of it stays in the channel. Servers usually answer and
// close.
struct LWT_EXPORT line_too_long : std::length_error {
    line_too_long();
    explicit line_too_long(std::size_t limit);
    std::size_t limit() const noexcept { return limit_; }

private:
    std::size_t limit_ = 0;
};

// The longest line (without its newline) that read_line, read_line_opt and read_lines accept
// on this channel when not given a limit; 0: no limit, the default of every channel but a
// server's connections (server_options::line_limit).
LWT_EXPORT std::size_t line_limit(const input_channel& ic) noexcept;
LWT_EXPORT void set_line_limit(const input_channel& ic, std::size_t max);

LWT_EXPORT promise<char> read_char(const input_channel& ic);
LWT_EXPORT promise<std::optional<char>> read_char_opt(const input_channel& ic);
// A line without its "\n" or "\r\n" (a bare "\r" is kept); the last line may lack its newline;
// lwt::end_of_file only when nothing was read. A line longer than the channel's line_limit
// (or than `max`) fails with line_too_long; memory held stays within that limit.
LWT_EXPORT promise<std::string> read_line(const input_channel& ic);
LWT_EXPORT promise<std::string> read_line(const input_channel& ic, std::size_t max);
LWT_EXPORT promise<std::optional<std::string>> read_line_opt(const input_channel& ic);
LWT_EXPORT promise<std::optional<std::string>> read_line_opt(const input_channel& ic, std::size_t max);
// Everything up to the end of file.
LWT_EXPORT promise<std::string> read(const input_channel& ic);
// At most count bytes: what is available, waiting only when nothing is; "" at the end. The
// memory taken follows what arrives, not count (which may come from a peer).
LWT_EXPORT promise<std::string> read(const input_channel& ic, std::size_t count);
// Into buf: at most len bytes (0 at the end) / exactly len (lwt::end_of_file if the file ends).
LWT_EXPORT promise<std::size_t> read_into(const input_channel& ic, char* buf, std::size_t len);
LWT_EXPORT promise<void> read_into_exactly(const input_channel& ic, char* buf, std::size_t len);
// The remaining lines, as a stream (the channel's line_limit applies).
LWT_EXPORT stream<std::string> read_lines(const input_channel& ic);
// The remaining characters, as a stream.
LWT_EXPORT stream<char> read_chars(const input_channel& ic);

}  // namespace lwt::io
