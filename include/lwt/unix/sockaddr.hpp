// Unix.sockaddr: an IPv4, IPv6 or Unix-domain address, held by value.
#pragma once

#include <lwt/detail/config.hpp>

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace lwt::unix_ {

class LWT_EXPORT sockaddr {
public:
    sockaddr() noexcept;
    // Numeric addresses only (no name resolution: see getaddrinfo); invalid_argument otherwise.
    static sockaddr inet(std::string_view host, std::uint16_t port);
    static sockaddr inet6(std::string_view host, std::uint16_t port);
    // A path; a leading '@' names an abstract socket (Linux).
    static sockaddr unix_(std::string_view path);
    static sockaddr from_raw(const struct ::sockaddr* sa, socklen_t len);

    int family() const noexcept;          // AF_INET, AF_INET6, AF_UNIX
    std::uint16_t port() const noexcept;  // 0 for Unix-domain addresses
    std::string host() const;             // the numeric address, or the path
    std::string to_string() const;        // "1.2.3.4:80", "[::1]:80", "unix:/path"
    const struct ::sockaddr* raw() const noexcept;
    struct ::sockaddr* raw() noexcept;
    socklen_t size() const noexcept { return len_; }
    void set_size(socklen_t n) noexcept { len_ = n; }
    static constexpr socklen_t capacity = 128;
    LWT_EXPORT friend bool operator==(const sockaddr& a, const sockaddr& b) noexcept;

private:
    alignas(8) unsigned char storage_[capacity];
    socklen_t len_ = 0;
};

}  // namespace lwt::unix_
