// cp: copies a file with Lwt_unix reads and writes and a fixed buffer (no channel), then
// syncs the copy to disk.
//
//   cp SOURCE DEST
//   try: build/samples/cp README.md /tmp/README.copy && cmp README.md /tmp/README.copy
#include <lwt/lwt.hpp>

#include <cstdio>
#include <vector>

using namespace lwt;

promise<std::size_t> copy_file(std::string from, std::string to) {
    auto src = co_await unix_::openfile(from, O_RDONLY);
    auto mode = (co_await unix_::fstat(src)).perm;
    auto dst = co_await unix_::openfile(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
    std::vector<char> buf(1 << 16);
    std::size_t total = 0;
    for (;;) {
        std::size_t n = co_await unix_::read(src, buf.data(), buf.size());
        if (n == 0) break;
        for (std::size_t off = 0; off < n;) off += co_await unix_::write(dst, buf.data() + off, n - off);
        total += n;
    }
    co_await unix_::fsync(dst);
    co_await dst.close();
    co_await src.close();
    co_return total;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: cp SOURCE DEST\n");
        return 2;
    }
    try {
        std::size_t n = main::run(copy_file(argv[1], argv[2]));
        std::fprintf(stderr, "cp: %zu bytes copied\n", n);
    } catch (const unix_::unix_error& e) {
        std::fprintf(stderr, "cp: %s\n", e.what());
        return 1;
    }
}
