// Lwt_stream: the exceptions (the rest is templates).
#include <lwt/stream.hpp>

namespace lwt {

const char* stream_closed::what() const noexcept { return "lwt::stream_closed"; }
const char* stream_full::what() const noexcept { return "lwt::stream_full"; }
const char* stream_empty::what() const noexcept { return "lwt::stream_empty"; }

}  // namespace lwt
