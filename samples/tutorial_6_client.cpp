// tutorial_6_client: docs/tutorial.md, step 6 -- a client. Connects to the step 5 server,
// sends each line of its arguments and prints the replies, all under a 5-second timeout.
//
//   try: build/samples/tutorial_5_server 9000 &
//        build/samples/tutorial_6_client 9000 hello world
#include <lwt/lwt.hpp>

#include <cstdlib>
#include <string>
#include <vector>

using namespace lwt;
using namespace std::chrono_literals;

promise<void> talk(std::uint16_t port, std::vector<std::string> lines) {
    auto session = [&](io::input_channel& in, io::output_channel& out) -> promise<void> {
        for (const auto& line : lines) {
            co_await io::write_line(out, line);
            co_await io::flush(out);
            co_await io::printlf("{} -> {}", line, co_await io::read_line(in));
        }
    };
    auto connect = [&] { return io::with_connection(unix_::sockaddr::inet("127.0.0.1", port), session); };
    co_await unix_::with_timeout(5s, connect);
}

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    return main::run_program(talk(static_cast<std::uint16_t>(std::atoi(argv[1])), std::vector<std::string>(argv + 2, argv + argc)));
}
