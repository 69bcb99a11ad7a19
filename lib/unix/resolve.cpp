// Lwt_unix's name resolution, on the worker pool.
#include <lwt/preemptive.hpp>
#include <lwt/unix/resolve.hpp>

#include <netdb.h>

#include <cerrno>
#include <stdexcept>

namespace lwt::unix_ {

promise<std::vector<addr_info>> getaddrinfo(std::string host, std::string service, getaddrinfo_options opts) {
    if (host.find('\0') != std::string::npos || service.find('\0') != std::string::npos)
        throw std::invalid_argument("lwt::unix_::getaddrinfo: NUL byte in host or service");
    return preemptive::detach([host, service, opts]() {
        addrinfo hints{};
        hints.ai_family = opts.family ? static_cast<int>(*opts.family) : AF_UNSPEC;
        hints.ai_socktype = opts.socktype ? static_cast<int>(*opts.socktype) : 0;
        hints.ai_protocol = opts.protocol;
        hints.ai_flags = (opts.passive ? AI_PASSIVE : 0) | (opts.numeric_host ? AI_NUMERICHOST : 0) |
                         (opts.canonname ? AI_CANONNAME : 0);
        addrinfo* res = nullptr;
        std::vector<addr_info> out;
        int r = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.empty() ? nullptr : service.c_str(),
                              &hints, &res);
        if (r != 0) return out;  // as Unix.getaddrinfo: no answer is an empty list
        for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6 && ai->ai_family != AF_UNIX) continue;
            addr_info a;
            a.domain = static_cast<socket_domain>(ai->ai_family);
            a.type = static_cast<socket_type>(ai->ai_socktype);
            a.protocol = ai->ai_protocol;
            a.addr = sockaddr::from_raw(ai->ai_addr, ai->ai_addrlen);
            if (ai->ai_canonname != nullptr) a.canonname = ai->ai_canonname;
            out.push_back(std::move(a));
        }
        ::freeaddrinfo(res);
        return out;
    });
}

promise<name_info> getnameinfo(const sockaddr& addr, bool numeric_host, bool numeric_service) {
    return preemptive::detach([addr, numeric_host, numeric_service]() {
        char host[NI_MAXHOST] = {};
        char serv[NI_MAXSERV] = {};
        int flags = (numeric_host ? NI_NUMERICHOST : 0) | (numeric_service ? NI_NUMERICSERV : 0);
        int r = ::getnameinfo(addr.raw(), addr.size(), host, sizeof host, serv, sizeof serv, flags);
        if (r != 0) {
            int err = r == EAI_SYSTEM ? errno : EINVAL;
            throw unix_error(err, "getnameinfo", addr.to_string() + ": " + ::gai_strerror(r));
        }
        return name_info{host, serv};
    });
}

}  // namespace lwt::unix_
