// libFuzzer target: the request head parser of the http_server sample (samples/http_request.hpp),
// fed as the sample feeds it: lines as io::read_line gives them, a line over the line limit
// refused with 431, a request's body skipped by its Content-Length, then the next request on
// the same connection. The limits come from the input too (small ones, so that they are met).
//
// Checked: every refusal is one of the statuses the parser documents; every request accepted
// is well formed and within every limit.
#include "check.hpp"
#include "http_request.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

void check_request(const http::request& r, const http::limits& lim, std::size_t head_bytes, std::size_t fields) {
    CHECK(http::detail::is_token(r.method));
    CHECK(!r.target.empty() && (r.target[0] == '/' || r.target == "*"));
    for (unsigned char c : r.target) CHECK(c > ' ' && c < 0x7f);
    CHECK(r.version.size() == 8 && r.version.starts_with("HTTP/1.") && r.version[7] >= '0' && r.version[7] <= '9');
    CHECK(r.content_length <= lim.body);
    CHECK(head_bytes <= lim.head);
    CHECK(fields <= lim.fields);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    http::limits lim;
    if (in.ConsumeBool()) {  // small limits, or the sample's
        lim.line = in.ConsumeIntegralInRange<std::size_t>(0, 200);
        lim.head = in.ConsumeIntegralInRange<std::size_t>(0, 1000);
        lim.fields = in.ConsumeIntegralInRange<std::size_t>(0, 20);
        lim.body = in.ConsumeIntegralInRange<std::size_t>(0, 100);
    }
    std::string bytes = in.ConsumeRemainingBytesAsString();
    std::string_view rest(bytes);

    while (!rest.empty()) {
        http::request_parser parser(lim);
        std::size_t head_bytes = 0, lines = 0;
        bool done = false;
        int refused = 0;
        while (!rest.empty()) {
            // a line as io::read_line gives it: without "\n" or "\r\n"; the last may lack its newline
            auto nl = rest.find('\n');
            std::string_view line = rest.substr(0, nl);
            rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
            if (nl != std::string_view::npos && !line.empty() && line.back() == '\r') line.remove_suffix(1);
            if (line.size() > lim.line) {  // io::line_too_long, in the sample
                refused = 431;
                break;
            }
            head_bytes += line.size() + 2;
            if (parser.started() || !line.empty()) ++lines;
            try {
                done = parser.feed(line);
            } catch (const http::error& e) {
                refused = e.status;
                break;
            }
            if (done) break;
        }
        if (refused != 0) {
            CHECK(refused == 400 || refused == 413 || refused == 431 || refused == 501 || refused == 505);
            CHECK(std::string_view(http::reason(refused)) != "Error");
            return 0;  // the sample answers and closes
        }
        if (!done) return 0;  // the connection ended mid-head
        const http::request& r = parser.get();
        // (fields: the lines after the request line, but the empty one that ends the head)
        check_request(r, lim, head_bytes, lines - 2);
        if (r.content_length > rest.size()) return 0;  // the body is cut short
        rest.remove_prefix(r.content_length);
    }
    return 0;
}
