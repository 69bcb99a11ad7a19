// pipeline: a subprocess pipeline with Lwt_process.pmap -- text goes through `tr` then
// `sort | uniq -c`, each stage feeding the next.
//
//   try: build/samples/pipeline
#include <lwt/lwt.hpp>

#include <fmt/format.h>

#include <string>

using namespace lwt;

int main() {
    return main::run_program([]() -> promise<void> {
        std::string text = "the quick brown fox jumps over the lazy dog the end";
        process::command split({"tr", " ", "\n"});
        auto words = co_await process::pmap(split, text + "\n");
        auto counted = co_await process::pmap(process::shell("sort | uniq -c | sort -rn | head -n 3"), words);
        co_await io::write(io::stdout_, counted);
        // A failing stage is an error when asked for (Lwt's pread would ignore it).
        process::options checked;
        checked.check = true;
        std::string failure;
        try {
            co_await process::pmap(process::shell("cat; exit 3"), "data", checked);
        } catch (const process::exit_error& e) {
            failure = fmt::format("{} (it wrote {:?})", e.what(), e.output());
        }
        co_await io::printlf("a stage failed: {}", failure);
    });
}
