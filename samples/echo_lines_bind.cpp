// echo_lines_bind: the same line echo written in Lwt's bind style (<lwt/bind.hpp>), as code
// ported from OCaml reads: a recursive loop of binds instead of a coroutine.
//
//   try: printf 'one\ntwo\n' | build/samples/echo_lines_bind
#include <lwt/bind.hpp>
#include <lwt/io.hpp>
#include <lwt/main.hpp>

using namespace lwt::infix;

lwt::promise<void> loop() {
    return lwt::io::read_line_opt(lwt::io::stdin_) >>= [](const std::optional<std::string>& line) {
        if (!line || line->empty()) return lwt::return_();
        return lwt::io::write_line(lwt::io::stdout_, *line) >>= [] { return loop(); };
    };
}

int main() { return lwt::main::run_program(loop()); }
