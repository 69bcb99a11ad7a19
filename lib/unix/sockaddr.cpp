// Unix.sockaddr.
#include <lwt/unix/sockaddr.hpp>

#include <fmt/core.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstddef>
#include <cstring>
#include <stdexcept>

namespace lwt::unix_ {

sockaddr::sockaddr() noexcept { std::memset(storage_, 0, sizeof storage_); }

sockaddr sockaddr::inet(std::string_view host, std::uint16_t port) {
    sockaddr a;
    auto* sin = reinterpret_cast<sockaddr_in*>(a.storage_);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::string h(host);
    if (::inet_pton(AF_INET, h.c_str(), &sin->sin_addr) != 1)
        throw std::invalid_argument(fmt::format("lwt::unix_::sockaddr::inet: not an IPv4 address: \"{}\"", h));
    a.len_ = sizeof(sockaddr_in);
    return a;
}

sockaddr sockaddr::inet6(std::string_view host, std::uint16_t port) {
    sockaddr a;
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(a.storage_);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    std::string h(host);
    if (::inet_pton(AF_INET6, h.c_str(), &sin6->sin6_addr) != 1)
        throw std::invalid_argument(fmt::format("lwt::unix_::sockaddr::inet6: not an IPv6 address: \"{}\"", h));
    a.len_ = sizeof(sockaddr_in6);
    return a;
}

sockaddr sockaddr::unix_(std::string_view path) {
    sockaddr a;
    auto* sun = reinterpret_cast<sockaddr_un*>(a.storage_);
    sun->sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof sun->sun_path || path.find('\0') != std::string_view::npos)
        throw std::invalid_argument(
            fmt::format("lwt::unix_::sockaddr::unix_: bad path \"{}\" (1 to {} bytes, no NUL)", path,
                        sizeof sun->sun_path - 1));
    std::memcpy(sun->sun_path, path.data(), path.size());
    if (path[0] == '@') sun->sun_path[0] = '\0';  // abstract namespace
    a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
    return a;
}

sockaddr sockaddr::from_raw(const struct ::sockaddr* sa, socklen_t len) {
    if (len > capacity) throw std::invalid_argument("lwt::unix_::sockaddr::from_raw: address too long");
    sockaddr a;
    std::memcpy(a.storage_, sa, len);
    a.len_ = len;
    return a;
}

int sockaddr::family() const noexcept { return reinterpret_cast<const struct ::sockaddr*>(storage_)->sa_family; }

std::uint16_t sockaddr::port() const noexcept {
    switch (family()) {
        case AF_INET: return ntohs(reinterpret_cast<const sockaddr_in*>(storage_)->sin_port);
        case AF_INET6: return ntohs(reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_port);
        default: return 0;
    }
}

std::string sockaddr::host() const {
    char buf[INET6_ADDRSTRLEN] = {};
    switch (family()) {
        case AF_INET: ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(storage_)->sin_addr, buf, sizeof buf); return buf;
        case AF_INET6:
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(storage_)->sin6_addr, buf, sizeof buf);
            return buf;
        case AF_UNIX: {
            auto* sun = reinterpret_cast<const sockaddr_un*>(storage_);
            std::size_t n = len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
            if (n == 0) return "";
            if (sun->sun_path[0] == '\0') return "@" + std::string(sun->sun_path + 1, n - 1);
            return std::string(sun->sun_path, strnlen(sun->sun_path, n));
        }
        default: return "";
    }
}

std::string sockaddr::to_string() const {
    switch (family()) {
        case AF_INET: return fmt::format("{}:{}", host(), port());
        case AF_INET6: return fmt::format("[{}]:{}", host(), port());
        case AF_UNIX: return "unix:" + host();
        default: return "<unknown address>";
    }
}

const struct ::sockaddr* sockaddr::raw() const noexcept { return reinterpret_cast<const struct ::sockaddr*>(storage_); }
struct ::sockaddr* sockaddr::raw() noexcept { return reinterpret_cast<struct ::sockaddr*>(storage_); }

bool operator==(const sockaddr& a, const sockaddr& b) noexcept {
    return a.len_ == b.len_ && std::memcmp(a.storage_, b.storage_, a.len_) == 0;
}

}  // namespace lwt::unix_
