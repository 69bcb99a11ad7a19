// Lwt_io's binary numbers, through the public readers and writers: a number is read with
// read_into_exactly and written with write, byte-swapped when the order asked is not the
// machine's.
#include <lwt/io/number.hpp>
#include <lwt/io/read.hpp>
#include <lwt/io/write.hpp>

#include <cstdint>
#include <cstring>
#include <string_view>

namespace lwt::io {

namespace {
template <class U>
U swap_if(U v, bool big) {
    if constexpr (sizeof(U) == 1) return v;
    if (big == (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)) return v;
    if constexpr (sizeof(U) == 2) return static_cast<U>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
    if constexpr (sizeof(U) == 4) return static_cast<U>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
    if constexpr (sizeof(U) == 8) return static_cast<U>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
}

template <class T, class Raw>
promise<T> read_number(input_channel ic, bool big) {
    char b[sizeof(Raw)];
    co_await read_into_exactly(ic, b, sizeof b);
    Raw r;
    std::memcpy(&r, b, sizeof r);
    r = swap_if(r, big);
    T v;
    std::memcpy(&v, &r, sizeof v);
    co_return v;
}

template <class T, class Raw>
promise<void> write_number(const output_channel& oc, T v, bool big) {
    Raw r;
    std::memcpy(&r, &v, sizeof r);
    r = swap_if(r, big);
    return write(oc, std::string_view(reinterpret_cast<const char*>(&r), sizeof r));
}
}  // namespace

template <bool Big>
promise<std::int16_t> endian<Big>::read_int16(const input_channel& ic) {
    return read_number<std::int16_t, std::uint16_t>(ic, Big);
}
template <bool Big>
promise<std::int32_t> endian<Big>::read_int32(const input_channel& ic) {
    return read_number<std::int32_t, std::uint32_t>(ic, Big);
}
template <bool Big>
promise<std::int64_t> endian<Big>::read_int64(const input_channel& ic) {
    return read_number<std::int64_t, std::uint64_t>(ic, Big);
}
template <bool Big>
promise<float> endian<Big>::read_float32(const input_channel& ic) {
    return read_number<float, std::uint32_t>(ic, Big);
}
template <bool Big>
promise<double> endian<Big>::read_float64(const input_channel& ic) {
    return read_number<double, std::uint64_t>(ic, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int16(const output_channel& oc, std::int16_t v) {
    return write_number<std::int16_t, std::uint16_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int32(const output_channel& oc, std::int32_t v) {
    return write_number<std::int32_t, std::uint32_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_int64(const output_channel& oc, std::int64_t v) {
    return write_number<std::int64_t, std::uint64_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_float32(const output_channel& oc, float v) {
    return write_number<float, std::uint32_t>(oc, v, Big);
}
template <bool Big>
promise<void> endian<Big>::write_float64(const output_channel& oc, double v) {
    return write_number<double, std::uint64_t>(oc, v, Big);
}
template struct endian<false>;
template struct endian<true>;

}  // namespace lwt::io
