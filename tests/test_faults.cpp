// A kernel that misbehaves (include/lwt/detail/faults.hpp): interrupted and not-ready calls
// are retried by the engine, real errors reach the caller once, as a unix_error naming the
// call, and nothing is left in flight or open afterwards.
#include <lwt/detail/faults.hpp>
#include <lwt/engine.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <cerrno>
#include <string>

using namespace lwt;
using lwt::detail::io_kind;
namespace faults = lwt::detail::faults;

namespace {

// The error `p` was rejected with, if a unix_error naming `call`; 0 otherwise.
template <class T>
int unix_errno(const promise<T>& p, const std::string& call) {
    if (p.state() != state::rejected) return 0;
    try {
        std::rethrow_exception(p.exception());
    } catch (const unix_::unix_error& e) {
        if (e.call() == call) return e.error();
    } catch (...) {
    }
    return 0;
}

// Everything settled, nothing open that was not open before.
void settles_cleanly(int fds_before) {
    test::settle_idle();
    REQUIRE(engine::live_operations() == 0);
    REQUIRE(test::open_fds() == fds_before);
}

}  // namespace

TEST_CASE("a read interrupted by a signal (EINTR) is made again: the caller gets the bytes") {
    const int before = test::open_fds();
    {
        auto r_w_ = unix_::pipe();
        auto& r = r_w_.first;
        REQUIRE(::write(r_w_.second.fd(), "abc", 3) == 3);
        char buf[8];
        faults::fail_next(io_kind::read, EINTR);
        promise<std::size_t> n = unix_::read(r, buf, sizeof buf);
        REQUIRE(main::run(n) >= 1);
        REQUIRE(buf[0] == 'a');
    }
    settles_cleanly(before);
}

TEST_CASE("a recv told EAGAIN though data is there waits for readiness and is made again") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        auto& b = a_b_.second;
        REQUIRE(::write(a_b_.first.fd(), "x", 1) == 1);
        char c = 0;
        faults::fail_next(io_kind::recv, EAGAIN, 3);
        REQUIRE(main::run(unix_::with_timeout(5.0, [&] { return unix_::recv(b, &c, 1); })) == 1);
        REQUIRE(c == 'x');
    }
    settles_cleanly(before);
}

TEST_CASE("a recv told EAGAIN and cancelled before its retry is cancelled, not failed with EAGAIN") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        auto& b = a_b_.second;
        char c = 0;
        faults::fail_next(io_kind::recv, EAGAIN);
        promise<std::size_t> p = unix_::recv(b, &c, 1);
        cancel(p);
        REQUIRE(test::is_canceled(p));
    }
    settles_cleanly(before);
}

TEST_CASE("a read told EAGAIN whose descriptor is closed before its retry fails with EBADF, "
          "never reading the file that reuses the number") {
    auto r_w_ = unix_::pipe();
    auto& r = r_w_.first;
    const int number = r.fd();
    char buf[8] = {};
    faults::fail_next(io_kind::read, EAGAIN);
    promise<std::size_t> p = unix_::read(r, buf, sizeof buf);
    main::run(r.close());
    auto r2_w2_ = unix_::pipe();  // the lowest free numbers: the old read end's is one
    auto& r2 = r2_w2_.first;
    auto& w2 = r2_w2_.second;
    if (r2.fd() != number && w2.fd() != number) return test::skip("the old descriptor number was not reused");
    unix_::file_descr& reused = r2.fd() == number ? r2 : w2;
    unix_::file_descr& other = r2.fd() == number ? w2 : r2;
    if (&reused == &r2) REQUIRE(::write(other.fd(), "new", 3) == 3);
    test::settle([&] { return !p.is_pending(); }, "the read to settle");
    REQUIRE(unix_errno(p, "read") == EBADF);
    if (&reused == &r2) REQUIRE(::read(r2.fd(), buf, sizeof buf) == 3);  // still there
    REQUIRE(engine::live_operations() == 0);
}

TEST_CASE("a recv that meets ECONNRESET fails once with a unix_error naming recv") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        auto& b = a_b_.second;
        char c = 0;
        faults::fail_next(io_kind::recv, ECONNRESET);
        promise<std::size_t> p = unix_::recv(b, &c, 1);
        test::settle([&] { return !p.is_pending(); }, "the recv to settle");
        REQUIRE(unix_errno(p, "recv") == ECONNRESET);
    }
    settles_cleanly(before);
}

TEST_CASE("a send that meets EPIPE fails once with a unix_error naming send") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        faults::fail_next(io_kind::send, EPIPE);
        promise<std::size_t> p = unix_::send(a_b_.first, "x", 1);
        test::settle([&] { return !p.is_pending(); }, "the send to settle");
        REQUIRE(unix_errno(p, "send") == EPIPE);
    }
    settles_cleanly(before);
}

TEST_CASE("a write that meets ENOBUFS fails once with a unix_error naming write") {
    const int before = test::open_fds();
    {
        auto r_w_ = unix_::pipe();
        faults::fail_next(io_kind::write, ENOBUFS);
        promise<std::size_t> p = unix_::write(r_w_.second, "x", 1);
        test::settle([&] { return !p.is_pending(); }, "the write to settle");
        REQUIRE(unix_errno(p, "write") == ENOBUFS);
    }
    settles_cleanly(before);
}

TEST_CASE("a connection reset in the middle of a stream fails the input channel's read with ECONNRESET") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        auto ic_oc_ = io::of_socket(std::move(a_b_.second));
        auto& ic = ic_oc_.first;
        auto& oc = ic_oc_.second;
        REQUIRE(::write(a_b_.first.fd(), "one\n", 4) == 4);
        REQUIRE(main::run(io::read_line(ic)) == "one");
        faults::fail_next(io_kind::recv_chunk, ECONNRESET);  // (a socket channel's receive)
        promise<std::string> next = io::read_line(ic);
        test::settle([&] { return !next.is_pending(); }, "the read_line to settle");
        REQUIRE(unix_errno(next, "recv") == ECONNRESET);
        main::run(io::close(ic));
        main::run(io::close(oc));
    }
    settles_cleanly(before);
}

TEST_CASE("a connection reset while an output channel flushes fails the flush with EPIPE") {
    const int before = test::open_fds();
    {
        auto a_b_ = unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
        auto ic_oc_ = io::of_socket(std::move(a_b_.second));
        auto& ic = ic_oc_.first;
        auto& oc = ic_oc_.second;
        faults::fail_next(io_kind::send, EPIPE);
        promise<void> w = io::write(oc, "lost");  // (buffered: the flush sends it)
        promise<void> f = io::flush(oc);
        test::settle([&] { return !f.is_pending() && !w.is_pending(); }, "the flush to settle");
        REQUIRE((unix_errno(f, "send") == EPIPE || unix_errno(w, "send") == EPIPE));
        main::run(io::close(ic));
        try {
            main::run(io::close(oc));  // (what is still buffered may fail again: the channel closes anyway)
        } catch (const unix_::unix_error&) {
        }
        REQUIRE(io::is_closed(oc));
    }
    settles_cleanly(before);
}

TEST_CASE("accepts failing with ENOBUFS are backed off and the server serves the next client") {
    const int before = test::open_fds();
    {
        faults::fail_next(io_kind::accept, ENOBUFS, 2);  // (the server's first two accepts)
        auto srv = main::run(io::establish_server_with_client_address(
            unix_::sockaddr::inet("127.0.0.1", 0),
            [](unix_::sockaddr, io::input_channel ic, io::output_channel oc) -> promise<void> {
                while (auto l = co_await io::read_line_opt(ic)) co_await io::write_line(oc, "echo: " + *l);
            }));
        auto got = main::run(unix_::with_timeout(5.0, [&] {
            return io::with_connection(srv.listening_address(),
                                       [](io::input_channel& ic, io::output_channel& oc) -> promise<std::string> {
                                           co_await io::write_line(oc, "hi");
                                           co_return co_await io::read_line(ic);
                                       });
        }));
        REQUIRE(got == "echo: hi");
        main::run(io::shutdown_server(srv));
    }
    settles_cleanly(before);
}
