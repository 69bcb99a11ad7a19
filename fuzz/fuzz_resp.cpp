// libFuzzer target: the RESP parser of the kv_server sample (samples/resp.hpp). The input is
// fed in chunks the fuzzer chooses, as a connection delivers it, with limits the fuzzer
// chooses (small, so that they are met). Checked against a plain recursive reading of the
// whole input: the same commands and the same error, whatever the chunking; every argument
// within the limits; and between commands or waiting for bytes, the parser holds at most a
// line (the limit and a '\r') besides the argument it is filling.
#include "check.hpp"
#include "resp.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using command = std::vector<std::string>;

struct result {
    std::vector<command> commands;
    std::string error;  // "" when the input ended (between or within commands)
    bool operator==(const result&) const = default;
};

// The model: the whole input at once, read top-down.
struct model {
    std::string_view s;
    resp::limits lim;
    std::size_t pos = 0;
    struct incomplete {};

    std::string line() {
        auto nl = s.find('\n', pos);
        if (nl == std::string_view::npos) {
            if (s.size() - pos > lim.line + 1) throw resp::protocol_error("too big inline request");
            throw incomplete{};
        }
        std::string_view l = s.substr(pos, nl - pos);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        if (l.size() > lim.line) throw resp::protocol_error("too big inline request");
        pos = nl + 1;
        return std::string(l);
    }
    static std::optional<long long> integer(std::string_view t) {
        bool neg = !t.empty() && t[0] == '-';
        if (neg) t.remove_prefix(1);
        if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string_view::npos)
            return std::nullopt;
        long long v = std::stoll(std::string(t));
        return neg ? -v : v;
    }
    command next() {
        std::string l = line();
        if (l.empty() || l[0] != '*') {
            command c;
            std::size_t i = 0;
            while (i < l.size()) {
                auto b = l.find_first_not_of(' ', i);
                if (b == std::string::npos) break;
                auto e = l.find(' ', b);
                if (e == std::string::npos) e = l.size();
                c.push_back(l.substr(b, e - b));
                i = e;
            }
            return c;
        }
        auto n = integer(std::string_view(l).substr(1));
        if (!n || *n > static_cast<long long>(lim.args)) throw resp::protocol_error("invalid multibulk length");
        command c;
        for (long long i = 0; i < *n; ++i) {
            std::string h = line();
            if (h.empty() || h[0] != '$') throw resp::protocol_error("expected '$'");
            auto len = integer(std::string_view(h).substr(1));
            if (!len || *len < 0 || *len > static_cast<long long>(lim.bulk))
                throw resp::protocol_error("invalid bulk length");
            auto L = static_cast<std::size_t>(*len);
            if (s.size() - pos < L + 2) throw incomplete{};
            if (s.substr(pos + L, 2) != "\r\n") throw resp::protocol_error("expected CRLF after a bulk string");
            c.emplace_back(s.substr(pos, L));
            pos += L + 2;
        }
        return c;
    }
    result run() {
        result r;
        try {
            for (;;) r.commands.push_back(next());
        } catch (const incomplete&) {
        } catch (const resp::protocol_error& e) {
            r.error = e.what();
        }
        return r;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    resp::limits lim;
    lim.line = in.ConsumeIntegralInRange<std::size_t>(0, 64);
    lim.bulk = in.ConsumeIntegralInRange<std::size_t>(0, 300);
    lim.args = in.ConsumeIntegralInRange<std::size_t>(0, 16);
    std::vector<std::size_t> chunks(in.ConsumeIntegralInRange<std::size_t>(1, 4));
    for (auto& c : chunks) c = in.ConsumeIntegralInRange<std::size_t>(1, 100);
    std::string bytes = in.ConsumeRemainingBytesAsString();

    result want = model{bytes, lim}.run();

    resp::parser p(lim);
    result got;
    std::size_t fed = 0, turn = 0;
    try {
        while (fed < bytes.size()) {
            std::size_t n = std::min(chunks[turn++ % chunks.size()], bytes.size() - fed);
            p.feed(std::string_view(bytes).substr(fed, n));
            fed += n;
            while (auto c = p.next()) {
                CHECK(c->size() <= std::max(lim.args, lim.line));  // (inline: words of a line)
                for (auto& a : *c) CHECK(a.size() <= std::max(lim.bulk, lim.line));  // (inline: within a line)
                got.commands.push_back(std::move(*c));
                CHECK(p.buffered() <= fed);
            }
            // waiting for bytes: at most a line and its '\r' held (a bulk's bytes go to its argument)
            CHECK(p.buffered() <= lim.line + 1);
        }
    } catch (const resp::protocol_error& e) {
        got.error = e.what();
    }
    CHECK(got == want);
    return 0;
}
