// curl_fetch: downloads every URL at once with libcurl's multi-socket interface, driven by
// the lwt++ loop (curl_multi.hpp: each of libcurl's sockets waited on with
// unix_::wait_read / wait_write), and prints one line per URL, in the order given.
//
//   curl_fetch [-o DIR] [--timeout SECONDS] URL...
//
// -o DIR writes the body of the i-th URL to DIR/i (from 1). The exit status is 0 when every
// URL answered (any HTTP status: a 404 is an answer), 1 when one failed (the line says why).
//   try: build/samples/http_server --root . 8080 &
//        build/samples/curl_fetch http://127.0.0.1:8080/README.md http://127.0.0.1:8080/
#include "curl_multi.hpp"

#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

using namespace lwt;

namespace {

struct outcome {
    std::string line;
    bool ok = false;
};

promise<outcome> download(curl_lwt::multi& m, std::string url, curl_lwt::fetch_options o, std::string out) {
    try {
        curl_lwt::response r = co_await m.fetch(url, o);
        if (!out.empty()) {
            auto f = co_await unix_::openfile(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            for (std::size_t off = 0; off < r.body.size();)
                off += co_await unix_::write(f, r.body.data() + off, r.body.size() - off);
            co_await f.close();
        }
        co_return outcome{fmt::format("{}: {}, {} bytes", url, r.status, r.body.size()), true};
    } catch (const std::exception& e) {
        co_return outcome{fmt::format("{}: failed: {}", url, e.what()), false};
    }
}

int usage() {
    fmt::print(stderr, "usage: curl_fetch [-o DIR] [--timeout SECONDS] URL...\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    std::string dir;
    curl_lwt::fetch_options o;
    std::vector<std::string> urls;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-o" && i + 1 < argc) {
            dir = argv[++i];
        } else if (a == "--timeout" && i + 1 < argc) {
            o.timeout = std::atof(argv[++i]);
        } else if (!a.empty() && a[0] == '-') {
            return usage();
        } else {
            urls.push_back(a);
        }
    }
    if (urls.empty()) return usage();
    try {
        auto results = main::run([&]() -> promise<std::vector<outcome>> {
            curl_lwt::multi m;
            std::vector<promise<outcome>> all;
            for (std::size_t i = 0; i < urls.size(); ++i)
                all.push_back(download(m, urls[i], o, dir.empty() ? "" : fmt::format("{}/{}", dir, i + 1)));
            co_return co_await lwt::all(std::move(all));
        });
        bool ok = true;
        for (const auto& r : results) {
            fmt::print("{}\n", r.line);
            ok = ok && r.ok;
        }
        return ok ? 0 : 1;
    } catch (const std::exception& e) {
        fmt::print(stderr, "curl_fetch: {}\n", e.what());
        return 1;
    }
}
