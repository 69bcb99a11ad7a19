// Lwt_io's binary numbers: little- and big-endian readers and writers (Lwt_io.LE, Lwt_io.BE).
#pragma once

#include <lwt/io/channel.hpp>
#include <lwt/promise.hpp>

#include <cstdint>

namespace lwt::io {

template <bool Big>
struct endian {
    static promise<std::int16_t> read_int16(const input_channel& ic);
    static promise<std::int32_t> read_int32(const input_channel& ic);
    static promise<std::int64_t> read_int64(const input_channel& ic);
    static promise<float> read_float32(const input_channel& ic);
    static promise<double> read_float64(const input_channel& ic);
    static promise<void> write_int16(const output_channel& oc, std::int16_t v);
    static promise<void> write_int32(const output_channel& oc, std::int32_t v);
    static promise<void> write_int64(const output_channel& oc, std::int64_t v);
    static promise<void> write_float32(const output_channel& oc, float v);
    static promise<void> write_float64(const output_channel& oc, double v);
};
using LE = endian<false>;
using BE = endian<true>;
extern template struct LWT_EXPORT endian<false>;
extern template struct LWT_EXPORT endian<true>;

}  // namespace lwt::io
