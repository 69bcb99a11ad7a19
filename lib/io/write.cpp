// Lwt_io's writers. write and write_line copy into a free channel's buffer synchronously (no
// coroutine frame) when the data fits, and schedule an auto-flush; otherwise a coroutine takes
// the channel and flushes as the buffer fills. Data larger than the buffer bypasses it.
#include "channel_impl.hpp"

#include <lwt/bind.hpp>
#include <lwt/io/write.hpp>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace lwt::detail {

namespace {

// The fast path of a write that fits in a free channel's buffer: no frame, no copy.
bool write_fits(io_channel& c, std::string_view a, std::string_view b = {}) {
    if (!free_and_open(c) || c.input || c.size - c.ptr < a.size() + b.size()) return false;
    if (c.base == nullptr) {
        try {
            own_buffer(c);
        } catch (...) {
            return false;  // (the slow path reports it)
        }
    }
    for (std::string_view s : {a, b}) {
        if (s.empty()) continue;  // (an empty view's data() may be null: no memcpy from it)
        std::memcpy(c.base + c.ptr, s.data(), s.size());
        c.ptr += s.size();
    }
    return true;
}

promise<void> write_impl(std::shared_ptr<io_channel> c, std::uint64_t g, std::string data) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    std::size_t off = 0;
    while (off < data.size()) {
        std::size_t room = c->size - c->ptr;
        if (room == 0) {
            co_await flush_locked(c);
            continue;
        }
        if (c->ptr == 0 && data.size() - off >= c->size) {
            // Larger than the buffer: straight from the caller's data.
            off += co_await channel_io(*c, c->wr(data.data() + off, data.size() - off));
            continue;
        }
        std::size_t n = std::min(room, data.size() - off);
        std::memcpy(own_buffer(*c) + c->ptr, data.data() + off, n);
        c->ptr += n;
        off += n;
    }
}

promise<std::size_t> write_from_impl(std::shared_ptr<io_channel> c, std::uint64_t g, const char* buf,
                                     std::size_t len, bool exactly) {
    channel_guard guard{c, co_await enter_channel(*c, g)};
    check_open(*c);
    std::size_t done = 0;
    while (done < len) {
        if (c->ptr == c->size) co_await flush_locked(c);
        std::size_t n;
        if (c->ptr == 0 && len - done >= c->size) {
            // Larger than the buffer: straight from the caller's memory.
            n = co_await channel_io(*c, c->wr(buf + done, len - done));
        } else {
            n = std::min(c->size - c->ptr, len - done);
            std::memcpy(own_buffer(*c) + c->ptr, buf + done, n);
            c->ptr += n;
        }
        done += n;
        if (!exactly) break;
    }
    co_return done;
}

}  // namespace

}  // namespace lwt::detail

namespace lwt::io {

using detail::io_channel;

promise<void> write(const output_channel& oc, std::string_view s) {
    if (detail::write_fits(oc.impl(), s)) {
        detail::schedule_flush(oc.shared());
        return lwt::return_();
    }
    return detail::write_impl(oc.shared(), oc.group(), std::string(s));
}

promise<void> write_line(const output_channel& oc, std::string_view s) {
    if (detail::write_fits(oc.impl(), s, "\n")) {
        detail::schedule_flush(oc.shared());
        return lwt::return_();
    }
    std::string line;
    line.reserve(s.size() + 1);
    line.append(s);
    line.push_back('\n');
    return detail::write_impl(oc.shared(), oc.group(), std::move(line));
}

promise<void> write_char(const output_channel& oc, char c) { return write(oc, std::string_view(&c, 1)); }

promise<void> write_lines(const output_channel& oc, stream<std::string> lines) {
    return lines.iter_s([oc](std::string l) { return write_line(oc, l); });
}

promise<std::size_t> write_from(const output_channel& oc, const char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::write_from: null buffer");
    return detail::write_from_impl(oc.shared(), oc.group(), buf, len, false);
}

promise<void> write_from_exactly(const output_channel& oc, const char* buf, std::size_t len) {
    if (buf == nullptr && len > 0) throw std::invalid_argument("lwt::io::write_from_exactly: null buffer");
    return lwt::map([](std::size_t) {}, detail::write_from_impl(oc.shared(), oc.group(), buf, len, true));
}

promise<void> flush(const output_channel& oc) { return detail::flush_impl(oc.shared(), oc.group()); }

promise<void> flush_all() {
    std::vector<promise<void>> ps;
    for (auto& c : detail::open_output_channels()) ps.push_back(detail::flush_impl(c, 0));
    return join(std::move(ps));
}

}  // namespace lwt::io
