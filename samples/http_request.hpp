// http_request.hpp: the request head parser of the http_server sample, kept apart from the
// I/O so that it can be tested and fuzzed (fuzz/fuzz_http.cpp). It takes the head one line at
// a time, as io::read_line gives it (without "\n" or "\r\n"), and refuses with the status to
// answer anything malformed or beyond its limits -- a server answers and closes.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace http {

// What one request may cost. The defaults follow common servers: nginx reads a line of at
// most 8 KiB and a body of at most 1 MiB; Apache takes at most 100 header fields.
struct limits {
    std::size_t line = 8 * 1024;           // the request line, or one header line (431)
    std::size_t head = 32 * 1024;          // all the head's lines, two bytes per newline (431)
    std::size_t fields = 100;              // header fields (431)
    std::size_t body = 1024 * 1024;        // Content-Length (413)
};

struct request {
    std::string method, target, version;
    bool keep_alive = true;
    std::size_t content_length = 0;
};

// A request refused: answer `status` and close the connection.
struct error : std::runtime_error {
    int status;
    error(int s, const std::string& why) : std::runtime_error(why), status(s) {}
};

inline const char* reason(int status) {
    switch (status) {
    case 400: return "Bad Request";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

namespace detail {
inline bool is_tchar(unsigned char c) {  // a token's characters (RFC 9110 5.6.2)
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}
inline bool is_token(std::string_view s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (!is_tchar(c)) return false;
    return true;
}
inline char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
inline std::string_view trim(std::string_view s) {  // optional whitespace (spaces and tabs)
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}
}  // namespace detail

// Feed the head's lines in order; feed() returns true at the empty line that ends the head,
// and request() is then complete. Every refusal is an http::error.
class request_parser {
public:
    explicit request_parser(const limits& l = {}) : lim_(l) {}

    // True once the request line has come: the end of the input before the head's end is then
    // a request cut short, not a client that is done.
    bool started() const { return started_; }
    const request& get() const { return req_; }

    bool feed(std::string_view line) {
        if (line.size() > lim_.line) throw error(431, "line too long");
        head_bytes_ += line.size() + 2;
        if (head_bytes_ > lim_.head) throw error(431, "head too large");
        if (!started_) {
            if (line.empty()) return false;  // empty lines before a request are ignored
            request_line(line);
            started_ = true;
            return false;
        }
        if (line.empty()) return true;
        if (++fields_ > lim_.fields) throw error(431, "too many header fields");
        field(line);
        return false;
    }

private:
    void request_line(std::string_view line) {
        auto sp1 = line.find(' ');
        auto sp2 = line.rfind(' ');
        if (sp1 == std::string_view::npos || sp2 == sp1) throw error(400, "malformed request line");
        std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                         version = line.substr(sp2 + 1);
        if (!detail::is_token(method)) throw error(400, "malformed method");
        // origin-form ("/path?query") or "*"; visible ASCII only
        if (target.empty() || (target[0] != '/' && target != "*")) throw error(400, "malformed target");
        for (unsigned char c : target)
            if (c <= ' ' || c >= 0x7f) throw error(400, "malformed target");
        if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
            version[5] < '0' || version[5] > '9' || version[7] < '0' || version[7] > '9')
            throw error(400, "malformed version");
        if (version[5] != '1') throw error(505, "HTTP version not supported");
        req_.method = method;
        req_.target = target;
        req_.version = version;
        req_.keep_alive = version[7] != '0';  // HTTP/1.1, and later 1.x read as 1.1 (RFC 9110 2.5)
    }

    void field(std::string_view line) {
        auto colon = line.find(':');
        // (no whitespace before the colon, and no line folding: RFC 9112 5.1, 5.2)
        if (colon == std::string_view::npos || !detail::is_token(line.substr(0, colon)))
            throw error(400, "malformed header field");
        std::string_view name = line.substr(0, colon), value = detail::trim(line.substr(colon + 1));
        for (unsigned char c : value)
            if ((c < ' ' && c != '\t') || c == 0x7f) throw error(400, "control character in a header field");
        if (detail::iequals(name, "connection")) {
            // a list of options: "close" wins over "keep-alive"
            while (!value.empty()) {
                auto comma = value.find(',');
                std::string_view option = detail::trim(value.substr(0, comma));
                if (detail::iequals(option, "close")) closed_ = true;
                if (detail::iequals(option, "keep-alive")) req_.keep_alive = true;
                value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
            }
            if (closed_) req_.keep_alive = false;
        } else if (detail::iequals(name, "content-length")) {
            if (value.empty()) throw error(400, "malformed Content-Length");
            std::size_t n = 0;
            for (char c : value) {
                if (c < '0' || c > '9') throw error(400, "malformed Content-Length");
                // (beyond the cap the value stops growing: no overflow)
                if (n <= lim_.body) n = n * 10 + static_cast<std::size_t>(c - '0');
            }
            if (has_length_ && n != req_.content_length) throw error(400, "conflicting Content-Length");
            if (n > lim_.body) throw error(413, "body too large");
            has_length_ = true;
            req_.content_length = n;
        } else if (detail::iequals(name, "transfer-encoding")) {
            // Without decoding it the body's end is unknown: refuse rather than guess.
            throw error(501, "Transfer-Encoding not implemented");
        }
    }

    limits lim_;
    request req_;
    bool started_ = false, closed_ = false, has_length_ = false;
    std::size_t head_bytes_ = 0, fields_ = 0;
};

}  // namespace http
