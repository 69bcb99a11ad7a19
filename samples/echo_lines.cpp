// echo_lines: the seed program of Lwt_direct -- read lines from standard input and echo
// them to standard output, in direct style.
//
//   try: printf 'one\ntwo\n' | build/samples/echo_lines
//        build/samples/echo_lines          (type lines; an empty line or Ctrl-D ends)
#include <lwt/lwt.hpp>

int main() {
    return lwt::main::run_program(lwt::direct::spawn([]() -> lwt::promise<void> {
        // Until an empty line or the end of input, as in Lwt_direct's example.
        while (auto line = co_await lwt::io::read_line_opt(lwt::io::stdin_)) {
            if (line->empty()) break;
            co_await lwt::io::write_line(lwt::io::stdout_, *line);
        }
    }));
}
