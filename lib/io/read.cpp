// Lwt_io's readers. read_line and read_char first try the buffer synchronously (no coroutine
// frame) when the channel is free; otherwise, and for the other readers, a coroutine takes the
// channel and refills its buffer as needed.
#include "channel_impl.hpp"

#include <lwt/bind.hpp>
#include <lwt/io/read.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace lwt::detail {

namespace {

constexpr std::size_t no_limit = std::numeric_limits<std::size_t>::max();

std::size_t effective(std::size_t limit) noexcept { return limit == 0 ? no_limit : limit; }

// A whole line from the buffer, if one is there (without its newline) and within `limit`.
std::optional<std::string> buffered_line(io_channel& c, std::size_t limit) {
    if (c.ptr == c.max) return std::nullopt;  // (no data: maybe no buffer either)
    char* begin = c.base + c.ptr;
    char* end = c.base + c.max;
    char* nl = static_cast<char*>(std::memchr(begin, '\n', static_cast<std::size_t>(end - begin)));
    if (nl == nullptr) return std::nullopt;
    char* line_end = (nl > begin && nl[-1] == '\r') ? nl - 1 : nl;
    if (static_cast<std::size_t>(line_end - begin) > limit) return std::nullopt;  // the slow path fails
    std::string line(begin, line_end);
    c.ptr = static_cast<std::size_t>(nl + 1 - c.base);
    if (c.ptr == c.max) drop_buffer(c);  // all read: the buffer goes back
    return line;
}

// A buffered character (there is one), read by the fast path of a free channel.
char take_char(io_channel& c) noexcept {
    const char ch = c.base[c.ptr++];
    if (c.ptr == c.max) drop_buffer(c);  // all read: the buffer goes back
    return ch;
}

// Invariant: acc holds at most limit + 1 bytes (the extra one a '\r' that may belong to a
// "\r\n" split across refills), so a peer that never sends a newline costs no more than the
// limit plus the channel's buffer.
promise<std::optional<std::string>> read_line_impl(std::shared_ptr<io_channel> c, std::uint64_t g, std::size_t limit) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    std::string acc;
    bool any = false;
    for (;;) {
        char* begin = c->base + c->ptr;
        std::size_t avail = c->max - c->ptr;
        char* nl = avail == 0 ? nullptr : static_cast<char*>(std::memchr(begin, '\n', avail));
        std::size_t take = nl != nullptr ? static_cast<std::size_t>(nl - begin) : avail;
        if (limit != no_limit && acc.size() + take > limit + 1) {
            c->ptr += take;
            throw io::line_too_long(limit);
        }
        if (take > 0) acc.append(begin, take);
        any = any || take > 0 || nl != nullptr;
        c->ptr += take;
        if (nl != nullptr) {
            ++c->ptr;  // the newline
            if (!acc.empty() && acc.back() == '\r') acc.pop_back();
            if (acc.size() > limit) throw io::line_too_long(limit);
            co_return acc;
        }
        if (co_await refill(*c) == 0) {
            if (!any) co_return std::nullopt;  // nothing read: end of file
            if (acc.size() > limit) throw io::line_too_long(limit);
            co_return acc;                     // a last line without newline
        }
    }
}

promise<std::optional<char>> read_char_impl(std::shared_ptr<io_channel> c, std::uint64_t g) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    if (c->ptr == c->max && co_await refill(*c) == 0) co_return std::nullopt;
    co_return c->base[c->ptr++];
}

promise<std::string> read_all_impl(std::shared_ptr<io_channel> c, std::uint64_t g) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    std::string out;
    for (;;) {
        if (c->max > c->ptr) out.append(c->base + c->ptr, c->max - c->ptr);
        c->ptr = c->max;
        if (co_await refill(*c) == 0) co_return out;
    }
}

promise<std::size_t> read_into_impl(std::shared_ptr<io_channel> c, std::uint64_t g, char* buf, std::size_t len,
                                    bool exactly) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    std::size_t done = 0;
    while (done < len) {
        if (c->ptr == c->max) {
            if (len - done >= c->size && c->rd) {
                // Larger than the buffer: read straight into the caller's memory.
                std::size_t n = co_await channel_io(*c, c->rd(buf + done, len - done));
                if (n == 0) break;
                done += n;
                if (!exactly) break;
                continue;
            }
            if (co_await refill(*c) == 0) break;
        }
        std::size_t n = std::min(len - done, c->max - c->ptr);
        std::memcpy(buf + done, c->base + c->ptr, n);
        c->ptr += n;
        done += n;
        if (!exactly) break;
    }
    if (exactly && done < len) throw end_of_file();
    co_return done;
}

promise<std::string> read_count_impl(std::shared_ptr<io_channel> c, std::uint64_t g, std::size_t count) {
    // One read gives at most what one refill (or one direct read) brings: sizing the string
    // by that, not by count, keeps a claimed length from costing memory before it arrives.
    std::string out(std::min(count, std::max<std::size_t>(c->size, 64 * 1024)), '\0');
    std::size_t n = co_await read_into_impl(std::move(c), g, out.data(), out.size(), false);
    out.resize(n);
    co_return out;
}

template <class T>
promise<T> value_or_eof(promise<std::optional<T>> p) {
    std::optional<T> v = co_await std::move(p);
    if (!v) throw end_of_file();
    co_return std::move(*v);
}

}  // namespace

}  // namespace lwt::detail

namespace lwt::io {

using detail::io_channel;

promise<std::optional<std::string>> read_line_opt(const input_channel& ic, std::size_t max) {
    io_channel& c = ic.impl();
    std::size_t limit = detail::effective(max);
    if (detail::free_and_open(c) && c.input)
        if (auto line = detail::buffered_line(c, limit)) return lwt::return_(std::move(line));
    return detail::read_line_impl(ic.shared(), ic.group(), limit);
}

promise<std::optional<std::string>> read_line_opt(const input_channel& ic) {
    return read_line_opt(ic, ic.impl().line_limit);
}

promise<std::string> read_line(const input_channel& ic, std::size_t max) {
    io_channel& c = ic.impl();
    std::size_t limit = detail::effective(max);
    if (detail::free_and_open(c) && c.input)
        if (auto line = detail::buffered_line(c, limit)) return lwt::return_(std::move(*line));
    return detail::value_or_eof(detail::read_line_impl(ic.shared(), ic.group(), limit));
}

promise<std::string> read_line(const input_channel& ic) { return read_line(ic, ic.impl().line_limit); }

line_too_long::line_too_long() : std::length_error("lwt::io::read_line: line too long") {}
line_too_long::line_too_long(std::size_t limit)
    : std::length_error(fmt::format("lwt::io::read_line: line longer than {} bytes", limit)), limit_(limit) {}

std::size_t line_limit(const input_channel& ic) noexcept { return ic.impl().line_limit; }
void set_line_limit(const input_channel& ic, std::size_t max) { ic.impl().line_limit = max; }

promise<std::optional<char>> read_char_opt(const input_channel& ic) {
    io_channel& c = ic.impl();
    if (detail::free_and_open(c) && c.ptr < c.max) return lwt::return_(std::optional<char>(detail::take_char(c)));
    return detail::read_char_impl(ic.shared(), ic.group());
}

promise<char> read_char(const input_channel& ic) {
    io_channel& c = ic.impl();
    if (detail::free_and_open(c) && c.ptr < c.max) return lwt::return_(detail::take_char(c));
    return detail::value_or_eof(detail::read_char_impl(ic.shared(), ic.group()));
}

promise<std::string> read(const input_channel& ic) { return detail::read_all_impl(ic.shared(), ic.group()); }

promise<std::string> read(const input_channel& ic, std::size_t count) {
    return detail::read_count_impl(ic.shared(), ic.group(), count);
}

promise<std::size_t> read_into(const input_channel& ic, char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::read_into: null buffer");
    return detail::read_into_impl(ic.shared(), ic.group(), buf, len, false);
}

promise<void> read_into_exactly(const input_channel& ic, char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::read_into_exactly: null buffer");
    return lwt::map([](std::size_t) {}, detail::read_into_impl(ic.shared(), ic.group(), buf, len, true));
}

stream<std::string> read_lines(const input_channel& ic) {
    return stream<std::string>::from([ic] { return read_line_opt(ic); });
}

stream<char> read_chars(const input_channel& ic) {
    return stream<char>::from([ic] { return read_char_opt(ic); });
}

}  // namespace lwt::io
