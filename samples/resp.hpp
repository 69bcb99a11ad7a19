// resp.hpp: the request parser of the kv_server sample (the Redis protocol, RESP2), kept apart
// from the I/O so that it can be tested and fuzzed (fuzz/fuzz_resp.cpp). Bytes go in as they
// arrive; commands come out: RESP arrays of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), or
// inline commands (a plain line, "GET k", as nc sends).
//
// What the parser holds follows what was received, never what a peer claims: a bulk string
// grows as its bytes arrive, the arguments of an array as each one completes, and the lengths
// claimed are capped. Anything else is a protocol_error, after which the server replies
// "-ERR Protocol error: ..." and closes, as Redis does.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace resp {

// The defaults are Redis's: 64 KiB for a line (PROTO_INLINE_MAX_SIZE), 512 MiB for a bulk
// string (proto-max-bulk-len), 1024 * 1024 arguments.
struct limits {
    std::size_t line = 64 * 1024;           // an inline command, or a "*N" / "$N" line
    std::size_t bulk = 512 * 1024 * 1024;   // one argument
    std::size_t args = 1024 * 1024;         // arguments of one command
};

struct protocol_error : std::runtime_error {
    explicit protocol_error(const std::string& what) : std::runtime_error("Protocol error: " + what) {}
};

class parser {
public:
    explicit parser(const limits& l = {}) : lim_(l) {}

    // Appends what arrived.
    void feed(std::string_view bytes) {
        buf_.erase(0, pos_);  // what was parsed already
        pos_ = 0;
        buf_.append(bytes);
    }

    // The next complete command (possibly empty: "*0" or a blank line, to be ignored), or
    // std::nullopt until more bytes arrive. A protocol_error leaves the parser unusable.
    std::optional<std::vector<std::string>> next() {
        if (!in_array_) {
            auto line = take_line();
            if (!line) return std::nullopt;
            if (line->empty() || (*line)[0] != '*') return split_inline(*line);
            long long n = 0;
            if (!to_int(line->substr(1), n) || n > static_cast<long long>(lim_.args))
                throw protocol_error("invalid multibulk length");
            if (n <= 0) return std::vector<std::string>{};
            in_array_ = true;
            remaining_ = static_cast<std::size_t>(n);
            args_.clear();  // (no reserve: n is only a claim)
        }
        while (remaining_ > 0) {
            if (!in_bulk_) {
                auto line = take_line();
                if (!line) return std::nullopt;
                if (line->empty() || (*line)[0] != '$') throw protocol_error("expected '$'");
                long long n = 0;
                if (!to_int(line->substr(1), n) || n < 0 || n > static_cast<long long>(lim_.bulk))
                    throw protocol_error("invalid bulk length");
                in_bulk_ = true;
                bulk_left_ = static_cast<std::size_t>(n);
                args_.emplace_back();  // (no reserve either: it grows as the bytes come)
            }
            // The bulk's bytes, as far as they have arrived, then its CRLF.
            std::size_t take = std::min(bulk_left_, buf_.size() - pos_);
            args_.back().append(buf_, pos_, take);
            pos_ += take;
            bulk_left_ -= take;
            if (bulk_left_ > 0 || buf_.size() - pos_ < 2) return std::nullopt;
            if (buf_.compare(pos_, 2, "\r\n") != 0) throw protocol_error("expected CRLF after a bulk string");
            pos_ += 2;
            in_bulk_ = false;
            --remaining_;
        }
        in_array_ = false;
        return std::move(args_);
    }

    // Bytes received and not yet parsed, and whether a command is partly received.
    std::size_t buffered() const { return buf_.size() - pos_; }
    bool mid_command() const { return in_array_ || buffered() > 0; }

private:
    // A line without its "\n" or "\r\n", once whole; a line longer than the limit is an error
    // as soon as that many bytes have come without a newline.
    std::optional<std::string> take_line() {
        auto nl = buf_.find('\n', pos_);
        if (nl == std::string::npos) {
            if (buf_.size() - pos_ > lim_.line + 1) throw protocol_error("too big inline request");
            return std::nullopt;
        }
        std::size_t end = nl > pos_ && buf_[nl - 1] == '\r' ? nl - 1 : nl;
        if (end - pos_ > lim_.line) throw protocol_error("too big inline request");
        std::string line = buf_.substr(pos_, end - pos_);
        pos_ = nl + 1;
        return line;
    }

    static std::vector<std::string> split_inline(std::string_view line) {
        std::vector<std::string> args;
        std::size_t i = 0;
        while (i < line.size()) {
            while (i < line.size() && line[i] == ' ') ++i;
            std::size_t j = line.find(' ', i);
            if (j == std::string_view::npos) j = line.size();
            if (j > i) args.emplace_back(line.substr(i, j - i));
            i = j;
        }
        return args;
    }

    // A decimal integer: an optional '-', then 1 to 18 digits (no '+', no spaces).
    static bool to_int(std::string_view s, long long& out) {
        bool negative = !s.empty() && s[0] == '-';
        if (negative) s.remove_prefix(1);
        if (s.empty() || s.size() > 18) return false;
        long long v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + (c - '0');
        }
        out = negative ? -v : v;
        return true;
    }

    limits lim_;
    std::string buf_;
    std::size_t pos_ = 0;
    bool in_array_ = false, in_bulk_ = false;
    std::size_t remaining_ = 0, bulk_left_ = 0;
    std::vector<std::string> args_;
};

}  // namespace resp
