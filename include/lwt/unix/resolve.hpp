// Lwt_unix's name resolution: getaddrinfo and getnameinfo, on the worker pool (they may
// block on the network: never on the loop).
#pragma once

#include <lwt/promise.hpp>
#include <lwt/unix/socket.hpp>

#include <optional>
#include <string>
#include <vector>

namespace lwt::unix_ {

struct addr_info {
    socket_domain domain = socket_domain::inet;
    socket_type type = socket_type::stream;
    int protocol = 0;
    sockaddr addr;
    std::string canonname;
};
struct getaddrinfo_options {
    std::optional<socket_domain> family;
    std::optional<socket_type> socktype;
    int protocol = 0;
    bool passive = false;       // AI_PASSIVE
    bool numeric_host = false;  // AI_NUMERICHOST
    bool canonname = false;     // AI_CANONNAME
};
// Unix.getaddrinfo: resolution failures give an empty list (as Unix does); a bad argument
// throws invalid_argument.
LWT_EXPORT promise<std::vector<addr_info>> getaddrinfo(std::string host, std::string service,
                                                        getaddrinfo_options opts = {});
struct name_info {
    std::string hostname;
    std::string service;
};
// Unix.getnameinfo: failures are unix_error (with the gai message in what()).
LWT_EXPORT promise<name_info> getnameinfo(const sockaddr& addr, bool numeric_host = false,
                                          bool numeric_service = false);

}  // namespace lwt::unix_
