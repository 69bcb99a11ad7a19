// Shared by the sample servers that refuse a request and hang up (http_server, kv_server).
#pragma once

#include <lwt/io.hpp>
#include <lwt/unix.hpp>

#include <chrono>
#include <cstddef>
#include <string>

// The answer has been written to oc: closes it -- the client reads the answer, then the end
// of the stream -- and reads away what the client is still sending (at most `limit` bytes, for
// at most `patience`) before the handler returns and the socket closes. Closing a socket with
// unread data resets the connection, and a reset can destroy an answer the client has not read
// yet: that is why servers (nginx's lingering_close) wait like this.
inline lwt::promise<void> lingering_close(lwt::io::input_channel ic, lwt::io::output_channel oc,
                                          std::size_t limit = 4 << 20,
                                          std::chrono::milliseconds patience = std::chrono::seconds(2)) {
    try {
        co_await lwt::io::close(oc);
        auto drain = [ic, limit]() -> lwt::promise<void> {
            for (std::size_t n = 0; n < limit;) {
                std::string got = co_await lwt::io::read(ic, 64 * 1024);
                if (got.empty()) co_return;  // the client has finished too
                n += got.size();
            }
        };
        co_await lwt::unix_::with_timeout(patience, drain);
    } catch (const std::exception&) {
        // reset, or out of patience: the handler returns and the socket closes
    }
}
