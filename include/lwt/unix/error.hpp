// Lwt_unix's errors: a failed system call, and a timeout.
#pragma once

#include <lwt/detail/config.hpp>

#include <exception>
#include <string>
#include <system_error>

namespace lwt::unix_ {

// Unix.Unix_error: errno (as code()), the failed call's name and its argument.
class LWT_EXPORT unix_error : public std::system_error {
public:
    unix_error() : unix_error(0, "", "") {}
    unix_error(int err, std::string call, std::string argument);
    int error() const noexcept { return code().value(); }  // the errno value
    const std::string& call() const noexcept { return call_; }
    const std::string& argument() const noexcept { return arg_; }

private:
    std::string call_;
    std::string arg_;
};

// Lwt_unix.Timeout.
struct LWT_EXPORT timeout_error : std::exception {
    const char* what() const noexcept override;
};

}  // namespace lwt::unix_
