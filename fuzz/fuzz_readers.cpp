// libFuzzer target: the channel readers of <lwt/io/read.hpp> and <lwt/io/number.hpp> against a
// plain model, at every chunking. The fuzzer's bytes give the channel's data, the sizes of the
// chunks its read function delivers, the channel's buffer size, and a list of reads; every
// result and every exception is compared with what the model says of the data left.
//
// Where the contract leaves a choice to the chunking -- how much of an over-long line is
// dropped, how many bytes read(count) gives -- the model checks the bounds: a line_too_long
// drops at most the limit, a '\r' and one buffer, never the newline of a line longer than
// limit + 1; read(count) gives 1..count bytes of what comes next.
#include <lwt/io.hpp>
#include <lwt/stream.hpp>

#include "check.hpp"

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using namespace lwt;

namespace {

enum class failure { none, eof, too_long };

template <class T>
struct outcome {
    std::optional<T> value;
    failure err = failure::none;
    std::size_t limit = 0;  // of a line_too_long
};

// The source delivers its chunks at once (resolved promises): every read settles before it
// returns, and a pending one is a bug.
template <class T>
outcome<T> settle(const promise<T>& p) {
    CHECK(!p.is_pending());
    outcome<T> o;
    try {
        if constexpr (std::is_void_v<T>) {
            p.value();
        } else {
            o.value = p.value();
        }
    } catch (const io::line_too_long& e) {
        o.err = failure::too_long;
        o.limit = e.limit();
    } catch (const end_of_file&) {
        o.err = failure::eof;
    }
    return o;
}
outcome<bool> settle_void(const promise<void>& p) {
    CHECK(!p.is_pending());
    outcome<bool> o;
    try {
        p.value();
        o.value = true;
    } catch (const end_of_file&) {
        o.err = failure::eof;
    }
    return o;
}

struct model {
    std::string src;
    std::size_t pos = 0;
    std::size_t max_buffer = 0;  // the largest buffer the channel has had

    std::size_t rest() const { return src.size() - pos; }

    // What read_char_opt, or the next element of read_chars, gave: the next byte, or nothing
    // at the end.
    void char_opt(const outcome<std::optional<char>>& o) {
        CHECK(o.err == failure::none);
        if (rest() == 0) {
            CHECK(!*o.value);
        } else {
            CHECK(*o.value && **o.value == src[pos]);
            ++pos;
        }
    }

    // The next line's bytes without its '\n', and whether a '\n' ends it.
    std::pair<std::string, bool> raw_line() const {
        auto nl = src.find('\n', pos);
        if (nl == std::string::npos) return {src.substr(pos), false};
        return {src.substr(pos, nl - pos), true};
    }
    static std::string cooked(const std::string& raw, bool nl) {  // "\r\n" loses its '\r'
        if (nl && !raw.empty() && raw.back() == '\r') return raw.substr(0, raw.size() - 1);
        return raw;
    }

    // read_line / read_line_opt with an effective limit (0: none); `ic` for the resync after a
    // line_too_long.
    void line(const outcome<std::optional<std::string>>& got, std::size_t limit, bool opt,
              const io::input_channel& ic) {
        if (rest() == 0) {
            if (opt)
                CHECK(got.err == failure::none && got.value && !*got.value);
            else
                CHECK(got.err == failure::eof);
            return;
        }
        auto [raw, nl] = raw_line();
        std::string want = cooked(raw, nl);
        std::size_t lim = limit == 0 ? std::numeric_limits<std::size_t>::max() : limit;
        if (want.size() <= lim) {
            CHECK(got.err == failure::none && got.value && *got.value && **got.value == want);
            pos += raw.size() + (nl ? 1 : 0);
            return;
        }
        CHECK(got.err == failure::too_long && got.limit == limit);
        if (raw.size() <= lim + 1) {  // all of it was taken before its end was seen
            pos += raw.size() + (nl ? 1 : 0);
            return;
        }
        // Dropped: c bytes, within [limit + 2, min(raw, limit + 1 + buffer)]; the rest of the
        // line (and its newline) is still there -- read it without limit.
        auto r = settle(io::read_line_opt(ic, 0));
        CHECK(r.err == failure::none && r.value);
        std::size_t lo = lim + 2, hi = std::min(raw.size(), lim + 1 + max_buffer);
        if (!*r.value) {
            CHECK(!nl && hi == raw.size());  // all dropped, at the end of the data
        } else {
            const std::string& tail = **r.value;
            bool ok = false;
            // the rest as it was, or with the '\r' of its "\r\n" removed
            for (std::size_t extra : {0, 1}) {
                if (tail.size() + extra > raw.size()) continue;
                std::size_t c = raw.size() - tail.size() - extra;
                if (c < lo || c > hi) continue;
                if (cooked(raw.substr(c), nl) == tail) ok = true;
            }
            CHECK(ok);
        }
        pos += raw.size() + (nl ? 1 : 0);
    }

    // read(count) / read_into: 1..count bytes of what comes next ("" only at the end or for 0).
    void some(const std::string& got, std::size_t count) {
        if (count == 0 || rest() == 0) {
            CHECK(got.empty());
            return;
        }
        CHECK(!got.empty() && got.size() <= count && src.compare(pos, got.size(), got) == 0);
        pos += got.size();
    }

    // n bytes exactly, or end_of_file having taken everything.
    std::optional<std::string> exactly(std::size_t n) {
        if (rest() < n) {
            pos = src.size();
            return std::nullopt;
        }
        std::string s = src.substr(pos, n);
        pos += n;
        return s;
    }
};

template <class T, class U>
void number(model& m, const promise<T>& p, bool big) {
    auto got = settle(p);
    auto want = m.exactly(sizeof(T));
    if (!want) {
        CHECK(got.err == failure::eof);
        return;
    }
    CHECK(got.err == failure::none && got.value);
    U u = 0;  // assembled byte by byte, in the order asked
    for (std::size_t i = 0; i < sizeof(U); ++i) {
        auto b = static_cast<U>(static_cast<unsigned char>((*want)[big ? i : sizeof(U) - 1 - i]));
        u = static_cast<U>((u << 8) | b);
    }
    U g;
    std::memcpy(&g, &*got.value, sizeof g);  // (bits, so that NaNs compare)
    CHECK(g == u);
}

template <bool Big>
void numbers(model& m, const io::input_channel& ic, int which) {
    using E = io::endian<Big>;
    switch (which) {
    case 0: number<std::int16_t, std::uint16_t>(m, E::read_int16(ic), Big); break;
    case 1: number<std::int32_t, std::uint32_t>(m, E::read_int32(ic), Big); break;
    case 2: number<std::int64_t, std::uint64_t>(m, E::read_int64(ic), Big); break;
    case 3: number<float, std::uint32_t>(m, E::read_float32(ic), Big); break;
    default: number<double, std::uint64_t>(m, E::read_float64(ic), Big); break;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    // From the end of the input: the buffer size and the chunk sizes; from its start: the data,
    // then the operations.
    std::size_t buffer = in.ConsumeIntegralInRange<std::size_t>(16, 64);
    std::vector<std::size_t> chunks(in.ConsumeIntegralInRange<std::size_t>(1, 4));
    for (auto& c : chunks) c = in.ConsumeIntegralInRange<std::size_t>(1, 70);
    model m;
    m.src = in.ConsumeRandomLengthString(4096);
    m.max_buffer = buffer;

    auto pos = std::make_shared<std::size_t>(0);
    auto src = std::make_shared<std::string>(m.src);
    auto turn = std::make_shared<std::size_t>(0);
    auto ic = io::make(
        io::input,
        [pos, src, turn, chunks](char* buf, std::size_t n) -> promise<std::size_t> {
            std::size_t k = std::min({n, chunks[(*turn)++ % chunks.size()], src->size() - *pos});
            std::memcpy(buf, src->data() + *pos, k);
            *pos += k;
            return lwt::return_(k);
        },
        {}, buffer);

    while (in.remaining_bytes() > 0) {
        auto small = [&] { return in.ConsumeIntegralInRange<std::size_t>(0, 40); };
        switch (in.ConsumeIntegralInRange<int>(0, 15)) {
        case 0: {  // read_line(ic, max)
            std::size_t lim = small();
            auto p = io::read_line(ic, lim);
            auto o = settle(p);
            outcome<std::optional<std::string>> g{o.value ? std::optional<std::optional<std::string>>(*o.value)
                                                          : std::nullopt,
                                                  o.err, o.limit};
            m.line(g, lim, false, ic);
            break;
        }
        case 1: {  // read_line_opt(ic, max)
            std::size_t lim = small();
            m.line(settle(io::read_line_opt(ic, lim)), lim, true, ic);
            break;
        }
        case 2: {  // the channel's line_limit: read_line_opt(ic), read_line(ic)
            std::size_t lim = small();
            io::set_line_limit(ic, lim);
            CHECK(io::line_limit(ic) == lim);
            if (in.ConsumeBool()) {
                m.line(settle(io::read_line_opt(ic)), lim, true, ic);
            } else {
                auto o = settle(io::read_line(ic));
                m.line({o.value ? std::optional<std::optional<std::string>>(*o.value) : std::nullopt, o.err, o.limit},
                       lim, false, ic);
            }
            break;
        }
        case 3: {  // read_lines, one element (the channel's line_limit)
            std::size_t lim = small();
            io::set_line_limit(ic, lim);
            m.line(settle(io::read_lines(ic).get()), lim, true, ic);
            break;
        }
        case 4: {  // read_char
            auto o = settle(io::read_char(ic));
            if (m.rest() == 0) {
                CHECK(o.err == failure::eof);
            } else {
                CHECK(o.err == failure::none && *o.value == m.src[m.pos]);
                ++m.pos;
            }
            break;
        }
        case 5: {  // read_char_opt
            m.char_opt(settle(io::read_char_opt(ic)));
            break;
        }
        case 6: {  // read_chars: a few
            auto chars = io::read_chars(ic);
            for (std::size_t n = small() % 8; n > 0; --n) m.char_opt(settle(chars.get()));
            break;
        }
        case 7: {  // read(count), a count as large as a peer may claim now and then
            std::size_t count = in.ConsumeBool() ? small() : std::size_t{400'000'000};
            auto o = settle(io::read(ic, count));
            CHECK(o.err == failure::none);
            CHECK(o.value->capacity() <= std::max<std::size_t>(count, 1) + (1u << 17));
            m.some(*o.value, count);
            break;
        }
        case 8: {  // read_into
            std::size_t len = small();
            std::string b(len, '\0');
            auto o = settle(io::read_into(ic, b.data(), len));
            CHECK(o.err == failure::none);
            b.resize(*o.value);
            m.some(b, len);
            break;
        }
        case 9: {  // read_into_exactly
            std::size_t len = small();
            std::string b(len, '\0');
            auto o = settle_void(io::read_into_exactly(ic, b.data(), len));
            auto want = m.exactly(len);
            if (!want) {
                CHECK(o.err == failure::eof);
            } else {
                CHECK(o.err == failure::none && b == *want);
            }
            break;
        }
        case 10: {  // read: everything
            auto o = settle(io::read(ic));
            CHECK(o.err == failure::none && *o.value == m.src.substr(m.pos));
            m.pos = m.src.size();
            break;
        }
        case 11: numbers<false>(m, ic, in.ConsumeIntegralInRange<int>(0, 4)); break;
        case 12: numbers<true>(m, ic, in.ConsumeIntegralInRange<int>(0, 4)); break;
        case 13: {  // resize_buffer: kept data stays; smaller than it is refused
            std::size_t n = in.ConsumeIntegralInRange<std::size_t>(16, 80);
            std::size_t before = io::buffer_size(ic);
            auto p = io::resize_buffer(ic, n);
            CHECK(!p.is_pending());
            if (p.exception()) {
                try {
                    p.value();
                } catch (const std::invalid_argument&) {
                    CHECK(n < before);
                }
            } else {
                CHECK(io::buffer_size(ic) == n);
                m.max_buffer = std::max(m.max_buffer, n);
            }
            break;
        }
        default: {  // read_line without limit
            auto o = settle(io::read_line(ic, 0));
            m.line({o.value ? std::optional<std::optional<std::string>>(*o.value) : std::nullopt, o.err, o.limit}, 0,
                   false, ic);
            break;
        }
        }
    }
    // Whatever is left comes out whole.
    auto o = settle(io::read(ic));
    CHECK(o.err == failure::none && *o.value == m.src.substr(m.pos));
    return 0;
}
