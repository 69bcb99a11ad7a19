// Descriptors over Unix-domain sockets and the peer's credentials (<lwt/unix/fd_passing.hpp>:
// Lwt_unix.send_msg, recv_msg, get_credentials). On both engines (tests/meson.build).
#include <lwt/main.hpp>
#include <lwt/unix.hpp>

#include <catch2/catch.hpp>

#include "support.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

using namespace lwt;
using unix_::file_descr;

namespace {
std::pair<file_descr, file_descr> unix_pair() {
    return unix_::socketpair(unix_::socket_domain::unix_, unix_::socket_type::stream);
}
}  // namespace

TEST_CASE("a descriptor sent over a socket arrives as a new descriptor of the same file") {
    auto link = unix_pair();
    auto pipe = unix_::pipe();
    REQUIRE(main::run(unix_::send_msg(link.first, "p", 1, {pipe.second.fd()})) == 1);
    char byte = 0;
    auto got = main::run(unix_::recv_msg(link.second, &byte, 1));
    REQUIRE(got.bytes == 1);
    REQUIRE(byte == 'p');
    REQUIRE(got.fds.size() == 1);
    REQUIRE(got.fds[0].fd() != pipe.second.fd());
    REQUIRE((::fcntl(got.fds[0].fd(), F_GETFD) & FD_CLOEXEC) != 0);
    main::run(unix_::write(got.fds[0], std::string_view("through the copy")));  // the sender's pipe
    char buf[32];
    REQUIRE(main::run(unix_::read(pipe.first, buf, sizeof buf)) == 16);
    REQUIRE(std::string(buf, 16) == "through the copy");
}

TEST_CASE("several descriptors travel with their bytes; the sender keeps its own") {
    auto link = unix_pair();
    test::temp_dir dir;
    std::vector<file_descr> files;
    std::vector<int> numbers;
    for (int i = 0; i < 3; ++i) {
        files.push_back(main::run(unix_::openfile(dir / std::to_string(i), O_RDWR | O_CREAT, 0600)));
        numbers.push_back(files.back().fd());
    }
    main::run(unix_::send_msg(link.first, "three", 5, numbers));
    char buf[8];
    auto got = main::run(unix_::recv_msg(link.second, buf, sizeof buf));
    REQUIRE(std::string(buf, got.bytes) == "three");
    REQUIRE(got.fds.size() == 3);
    for (int i = 0; i < 3; ++i) {
        struct stat a, b;
        REQUIRE(::fstat(files[static_cast<std::size_t>(i)].fd(), &a) == 0);  // still open here
        REQUIRE(::fstat(got.fds[static_cast<std::size_t>(i)].fd(), &b) == 0);
        REQUIRE(a.st_ino == b.st_ino);  // in order: the same files
    }
}

TEST_CASE("recv_msg waits for a message, and a message without descriptors gives none") {
    auto link = unix_pair();
    char buf[8];
    promise<unix_::received_msg> waiting = unix_::recv_msg(link.second, buf, sizeof buf);
    main::run(unix_::sleep(0.01));
    REQUIRE(waiting.is_pending());
    main::run(unix_::write(link.first, std::string_view("hi")));
    auto got = main::run(waiting);
    REQUIRE(got.bytes == 2);
    REQUIRE(got.fds.empty());
}

TEST_CASE("recv_msg is cancelable while it waits") {
    auto link = unix_pair();
    char buf[8];
    promise<unix_::received_msg> waiting = unix_::recv_msg(link.second, buf, sizeof buf);
    main::run(unix_::sleep(0.01));
    lwt::cancel(waiting);
    REQUIRE(test::is_canceled(waiting));
    test::settle_idle();
}

TEST_CASE("recv_msg at the end of the peer's stream gives 0 bytes") {
    auto link = unix_pair();
    main::run(link.first.close());
    char buf[8];
    REQUIRE(main::run(unix_::recv_msg(link.second, buf, sizeof buf)).bytes == 0);
}

TEST_CASE("get_credentials names the process at the other end") {
    auto link = unix_pair();
    auto c = unix_::get_credentials(link.second);
    REQUIRE(c.pid == ::getpid());
    REQUIRE(c.uid == ::getuid());
    REQUIRE(c.gid == ::getgid());
    auto pipe = unix_::pipe();
    REQUIRE_THROWS_AS(unix_::get_credentials(pipe.first), unix_::unix_error);  // (not a socket)
}

TEST_CASE("send_msg without a byte, or with too many descriptors, is a misuse") {
    auto link = unix_pair();
    REQUIRE_THROWS_AS(unix_::send_msg(link.first, "", 0, {0}), std::invalid_argument);
    REQUIRE_THROWS_AS(unix_::send_msg(link.first, "x", 1, std::vector<int>(254, 0)), std::invalid_argument);
}
