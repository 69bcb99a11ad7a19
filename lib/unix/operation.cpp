// operation<K>: the failure path shared by every kind. The machinery itself is in
// operation_impl.hpp, instantiated by each room (fd.cpp, fs.cpp, socket.cpp) for its kinds.
#include "support.hpp"

#include <lwt/promise.hpp>

#include <unistd.h>

namespace lwt::detail {

std::int32_t result_slow(const io_result& op, const char* call, const std::string& arg,
                         bool owns_result) {
    std::int32_t r = op.res;
    if (op.canceled) {
        if (r == -ECANCELED || r == -EINTR) throw lwt::canceled();
        if (owns_result && r >= 0) {
            ::close(r);
            throw lwt::canceled();
        }
    }
    if (r >= 0) return r;
    if (r == -ECANCELED) r = -EBADF;  // its descriptor was closed under it
    throw unix_::unix_error(-r, call, arg);
}

}  // namespace lwt::detail
