// Lwt_io's files, through the public calls: open_file is unix_::openfile then of_fd;
// lines_of_file opens the file at the stream's first read and closes it at its end.
#include <lwt/bind.hpp>
#include <lwt/io/file.hpp>
#include <lwt/io/read.hpp>
#include <lwt/io/write.hpp>
#include <lwt/unix/error.hpp>
#include <lwt/unix/fs.hpp>

#include <fcntl.h>
#include <stdlib.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace lwt::io {

namespace {
promise<input_channel> open_in(promise<unix_::file_descr> fd, std::size_t size) {
    co_return of_fd(input, co_await std::move(fd), size);
}
promise<output_channel> open_out(promise<unix_::file_descr> fd, std::size_t size) {
    co_return of_fd(output, co_await std::move(fd), size);
}
}  // namespace

promise<input_channel> open_file(input_t, std::string path, std::size_t size) {
    return open_in(unix_::openfile(std::move(path), O_RDONLY), size);
}

promise<output_channel> open_file(output_t, std::string path, int flags, mode_t perm, std::size_t size) {
    return open_out(unix_::openfile(std::move(path), O_WRONLY | O_CREAT | flags, perm), size);
}

promise<std::int64_t> file_length(std::string path) {
    return lwt::map([](const unix_::stats& s) { return s.size; }, unix_::stat(std::move(path)));
}

namespace {
promise<std::optional<std::string>> next_line_of(std::string path, std::shared_ptr<std::optional<input_channel>> ic) {
    if (!*ic) ic->emplace(co_await open_file(input, path));
    auto line = co_await read_line_opt(**ic);
    if (!line) co_await close(**ic);
    co_return line;
}
}  // namespace

stream<std::string> lines_of_file(std::string path) {
    auto ic = std::make_shared<std::optional<input_channel>>();
    return stream<std::string>::from([path = std::move(path), ic] { return next_line_of(path, ic); });
}

promise<void> lines_to_file(std::string path, stream<std::string> lines) {
    return with_file(output, std::move(path), [lines](output_channel& oc) { return write_lines(oc, lines); });
}

}  // namespace lwt::io

namespace lwt::detail {

std::pair<std::string, unix_::file_descr> make_temp_file(const std::string& prefix) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/" + prefix + "-XXXXXX";
    int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd < 0) throw unix_::unix_error(errno, "mkstemp", tmpl);
    return {tmpl, unix_::file_descr(fd)};
}

std::string make_temp_dir(const std::string& prefix) {
    const char* dir = std::getenv("TMPDIR");
    std::string tmpl = std::string(dir != nullptr && *dir ? dir : "/tmp") + "/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw unix_::unix_error(errno, "mkdtemp", tmpl);
    return tmpl;
}

void remove_tree(const std::string& path) noexcept {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
}

}  // namespace lwt::detail
