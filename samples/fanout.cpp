// fanout: a downloader-style fan-out -- fetch several resources concurrently, each with its
// own timeout, and wait for all with join. It starts a local server whose "/slow" path never
// answers, so one fetch times out while the others complete.
//
//   try: build/samples/fanout
#include <lwt/lwt.hpp>

#include <fmt/core.h>

#include <string>
#include <vector>

using namespace lwt;

promise<std::string> fetch(unix_::sockaddr addr, std::string path) {
    // (The lambda is named before the co_await: see "g++ 12" in docs/guide.md.)
    auto exchange = [path](io::input_channel& ic, io::output_channel& oc) -> promise<std::string> {
        co_await io::write(oc, "GET " + path + " HTTP/1.0\r\n\r\n");
        co_return co_await io::read(ic);
    };
    co_return co_await io::with_connection(addr, exchange);
}

promise<void> fetch_and_report(unix_::sockaddr addr, std::string path) {
    auto fetching = [addr, path] { return fetch(addr, path); };
    std::optional<std::string> body;
    try {
        body = co_await unix_::with_timeout(0.5, fetching);
    } catch (const unix_::timeout_error&) {
    }
    if (body)
        co_await io::printlf("{:<8} {} bytes", path, body->size());
    else
        co_await io::printlf("{:<8} timed out", path);
}

promise<void> serve(unix_::sockaddr, io::input_channel ic, io::output_channel oc) {
    auto request = co_await io::read_line(ic);
    if (request.find("/slow") != std::string::npos) co_await unix_::sleep(60.0);  // never in time
    auto size = request.size() * 100;
    co_await io::write(oc, "HTTP/1.0 200 OK\r\n\r\n" + std::string(size, 'x'));
}

int main() {
    return main::run_program([]() -> promise<void> {
        auto server = co_await io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", 0), serve);
        auto addr = server.listening_address();
        std::vector<promise<void>> all;
        for (std::string path : {"/a", "/bb", "/slow", "/cccc"}) all.push_back(fetch_and_report(addr, path));
        co_await join(std::move(all));
        co_await io::shutdown_server(server);
    });
}
