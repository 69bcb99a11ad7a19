// A known program for test_trace, run with LWT_TRACE=<file>: a client sends three lines to an
// echo server over loopback while another coroutine sleeps, the two joined. With the argument
// "loops", each of two loops (loops::run) runs the same on its own.
#include <lwt/loops.hpp>
#include <lwt/lwt.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <chrono>
#include <cstring>
#include <string>

using namespace lwt;
using unix_::file_descr;

namespace {

promise<void> send_all(const file_descr& s, std::string d) {
    for (std::size_t off = 0; off < d.size();) off += co_await unix_::send(s, d.data() + off, d.size() - off);
}

promise<void> echo(file_descr conn) {
    char buf[256];
    for (;;) {
        std::size_t n = co_await unix_::recv(conn, buf, sizeof buf);
        if (n == 0) co_return;
        co_await send_all(conn, std::string(buf, n));
    }
}

promise<void> client(file_descr c) {
    char buf[256];
    for (int i = 0; i < 3; ++i) {
        co_await send_all(c, "hello " + std::to_string(i) + "\n");
        std::size_t got = 0;
        while (got < 8) got += co_await unix_::recv(c, buf, sizeof buf);
    }
    unix_::shutdown(c, unix_::shutdown_command::send);
}

promise<void> nap() { co_await unix_::sleep(0.01); }

promise<void> session() {
    auto srv = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    unix_::bind(srv, unix_::sockaddr::inet("127.0.0.1", 0));
    unix_::listen(srv);
    auto c = unix_::socket(unix_::socket_domain::inet, unix_::socket_type::stream);
    auto accepted = unix_::accept(srv);
    co_await unix_::connect(c, unix_::getsockname(srv));
    auto conn = co_await std::move(accepted);
    auto served = echo(std::move(conn.first));
    co_await join(client(std::move(c)), nap());
    co_await served;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "loops") == 0)
        return main::run_program([] {
            loops::run(2, [](std::size_t) { return session(); });
            return 0;
        });
    return main::run_program(session);
}
