// Lwt_io's readers: characters, lines, counts of bytes, everything; into a buffer; as
// streams. Each waits for the operations queued on the channel before it.
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>

#include <cstddef>
#include <optional>
#include <string>

namespace lwt::io {

LWT_EXPORT promise<char> read_char(const input_channel& ic);
LWT_EXPORT promise<std::optional<char>> read_char_opt(const input_channel& ic);
// A line without its "\n" or "\r\n" (a bare "\r" is kept); the last line may lack its newline;
// lwt::end_of_file only when nothing was read.
LWT_EXPORT promise<std::string> read_line(const input_channel& ic);
LWT_EXPORT promise<std::optional<std::string>> read_line_opt(const input_channel& ic);
// Everything up to the end of file.
LWT_EXPORT promise<std::string> read(const input_channel& ic);
// At most count bytes: what is available, waiting only when nothing is; "" at the end.
LWT_EXPORT promise<std::string> read(const input_channel& ic, std::size_t count);
// Into buf: at most len bytes (0 at the end) / exactly len (lwt::end_of_file if the file ends).
LWT_EXPORT promise<std::size_t> read_into(const input_channel& ic, char* buf, std::size_t len);
LWT_EXPORT promise<void> read_into_exactly(const input_channel& ic, char* buf, std::size_t len);
// The remaining lines, as a stream.
LWT_EXPORT stream<std::string> read_lines(const input_channel& ic);
// The remaining characters, as a stream.
LWT_EXPORT stream<char> read_chars(const input_channel& ic);

}  // namespace lwt::io
