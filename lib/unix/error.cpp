// Lwt_unix's errors.
#include <lwt/unix/error.hpp>

#include <fmt/core.h>

namespace lwt::unix_ {

unix_error::unix_error(int err, std::string call, std::string argument)
    : std::system_error(err, std::generic_category(), fmt::format("{}({})", call, argument)),
      call_(std::move(call)),
      arg_(std::move(argument)) {}

const char* timeout_error::what() const noexcept { return "lwt::unix_::timeout_error"; }

}  // namespace lwt::unix_
