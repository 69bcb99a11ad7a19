// Lwt_process: running programs.
//
// A command is an argv vector (argv[0] looked up in PATH) or shell("...") (/bin/sh -c).
// Children are spawned with posix_spawn (every descriptor of the parent is close-on-exec, so
// the child gets only its standard ones) and reaped through the engine (a pidfd). The
// one-shot functions (exec, pread, pwrite, pmap) and the process objects (open_process_*)
// take options: a timeout (the child is killed with SIGKILL when it runs out -- no hang), the
// environment, the working directory, and redirections of the standard descriptors.
//
// Unlike Lwt, whose pread ignores the exit status, options.check makes a non-zero exit (or a
// death by signal) a process::exit_error that carries the status and the output.
#pragma once

#include <lwt/io.hpp>
#include <lwt/promise.hpp>
#include <lwt/stream.hpp>
#include <lwt/unix.hpp>

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lwt::process {

struct LWT_EXPORT command {
    std::string program;            // looked up in PATH when it has no '/'
    std::vector<std::string> argv;  // argv[0] included
    command(std::vector<std::string> args);  // {"ls", "-l"}: program "ls"
    command(std::initializer_list<std::string> args) : command(std::vector<std::string>(args)) {}
    command(std::string program, std::vector<std::string> argv) : program(std::move(program)), argv(std::move(argv)) {}
};
// Lwt_process.shell: /bin/sh -c cmd.
LWT_EXPORT command shell(std::string cmd);

// What a standard descriptor of the child is.
struct redirection {
    enum class kind { keep, dev_null, close, fd } k = kind::keep;
    int fd = -1;  // for kind::fd: this descriptor of the parent is copied
    static redirection keep() { return {}; }
    static redirection dev_null() { return {kind::dev_null, -1}; }
    static redirection close() { return {kind::close, -1}; }
    static redirection from_fd(int fd) { return {kind::fd, fd}; }
};

struct options {
    std::optional<std::chrono::nanoseconds> timeout;  // SIGKILL when it runs out
    std::optional<std::vector<std::string>> env;      // "NAME=value" entries (replaces the environment)
    std::optional<std::string> cwd;
    redirection stdin_{};  // (the standard descriptors the function does not pipe itself)
    redirection stdout_{};
    redirection stderr_{};
    bool check = false;  // a non-zero exit or a death by signal becomes exit_error
};

// Unix.process_status.
struct LWT_EXPORT status {
    enum class kind { exited, signaled, stopped } k = kind::exited;
    int code = 0;  // the exit code, or the signal
    bool success() const noexcept { return k == kind::exited && code == 0; }
    std::string to_string() const;
    friend bool operator==(const status&, const status&) = default;
};
LWT_EXPORT status status_of_wait(int raw) noexcept;

// A process that did not succeed, with options.check. output(): what it wrote to stdout (for
// pread and pmap).
class LWT_EXPORT exit_error : public std::runtime_error {
public:
    exit_error(std::string cmd, status st, std::string output);
    const status& exit_status() const noexcept { return st_; }
    const std::string& output() const noexcept { return out_; }

private:
    status st_;
    std::string out_;
};

}  // namespace lwt::process

namespace lwt::detail {
struct process_child;
}  // namespace lwt::detail

namespace lwt::process {

// Lwt_process.process_none (and the base of the others).
class LWT_EXPORT process_none {
public:
    pid_t pid() const noexcept;
    // Fulfilled with the exit status once the child has ended (reaped by the runtime).
    promise<process::status> status() const;
    // Unix.kill: sends a signal (nothing when it has ended).
    void kill(int signum = 9) const;
    void terminate() const;  // SIGTERM
    // Lwt_process.close: closes the channels to the child, then waits for its end.
    promise<process::status> close() const;
    bool running() const noexcept;

protected:
    explicit process_none(std::shared_ptr<detail::process_child> c) : c_(std::move(c)) {}
    std::shared_ptr<detail::process_child> c_;
    friend LWT_EXPORT process_none open_process_none(command, options);
};

class LWT_EXPORT process_in : public process_none {
public:
    const io::input_channel& stdout_() const;  // the child's standard output

private:
    using process_none::process_none;
    friend LWT_EXPORT process_in open_process_in(command, options);
};

class LWT_EXPORT process_out : public process_none {
public:
    const io::output_channel& stdin_() const;  // the child's standard input

private:
    using process_none::process_none;
    friend LWT_EXPORT process_out open_process_out(command, options);
};

class LWT_EXPORT process_full : public process_none {
public:
    const io::output_channel& stdin_() const;
    const io::input_channel& stdout_() const;
    const io::input_channel& stderr_() const;

private:
    using process_none::process_none;
    friend LWT_EXPORT process_full open_process_full(command, options);
};

// Spawn failures (no such program...) are unix_error, thrown at the call.
LWT_EXPORT process_none open_process_none(command cmd, options opts = {});
LWT_EXPORT process_in open_process_in(command cmd, options opts = {});
LWT_EXPORT process_out open_process_out(command cmd, options opts = {});
LWT_EXPORT process_full open_process_full(command cmd, options opts = {});

// Lwt_process.exec: runs the command, gives its status.
LWT_EXPORT promise<status> exec(command cmd, options opts = {});
// Lwt_process.pread: its standard output (with opts.check, a failure is exit_error).
LWT_EXPORT promise<std::string> pread(command cmd, options opts = {});
// Lwt_process.pread_lines: its standard output as a stream of lines.
LWT_EXPORT stream<std::string> pread_lines(command cmd, options opts = {});
// Lwt_process.pwrite: feeds input to its standard input.
LWT_EXPORT promise<void> pwrite(command cmd, std::string input, options opts = {});
// Lwt_process.pmap: feeds input, gives its standard output (both at once: no deadlock).
LWT_EXPORT promise<std::string> pmap(command cmd, std::string input, options opts = {});

// The line variants. pread_line: the first line of its output (without its newline; the rest
// is read and dropped, so the child never meets a closed pipe); no line at all:
// lwt::end_of_file. pwrite_line / pwrite_lines: each line and a newline to its standard
// input. pmap_line: one line in, the first line out. pmap_lines: the lines of `input` fed
// while its output's lines are read, as a stream.
LWT_EXPORT promise<std::string> pread_line(command cmd, options opts = {});
LWT_EXPORT promise<void> pwrite_line(command cmd, std::string line, options opts = {});
LWT_EXPORT promise<void> pwrite_lines(command cmd, stream<std::string> lines, options opts = {});
LWT_EXPORT promise<std::string> pmap_line(command cmd, std::string line, options opts = {});
LWT_EXPORT stream<std::string> pmap_lines(command cmd, stream<std::string> input, options opts = {});

}  // namespace lwt::process

namespace lwt::detail {
// with_process_*: f's outcome once the process is closed (its status awaited) -- whether f
// succeeded or failed.
template <class T, class P, class F>
promise<T> with_process_impl(P proc, F f) {
    std::optional<promise<T>> r;
    try {
        r.emplace(f(proc));
        co_await settled(*r);
    } catch (...) {
        r.emplace(lwt::fail<T>(std::current_exception()));
    }
    co_await proc.close();
    co_return co_await std::move(*r);
}
template <class P, class F>
auto with_opened(P proc, F f) {
    using R = as_promise_t<std::invoke_result_t<F&, P&>>;
    static_assert(is_promise_v<R>, "lwt::process::with_process_*: f must return an lwt::promise");
    return with_process_impl<promise_value_t<R>>(std::move(proc), std::move(f));
}
}  // namespace lwt::detail

namespace lwt::process {

// Lwt_process.with_process_none / _in / _out / _full: opens the process, calls f with it,
// and closes it (channels closed, the child's end awaited) once f's promise settles; gives
// f's value, or its failure.
template <class F>
auto with_process_none(command cmd, F f, options opts = {}) {
    return detail::with_opened(open_process_none(std::move(cmd), std::move(opts)), std::move(f));
}
template <class F>
auto with_process_in(command cmd, F f, options opts = {}) {
    return detail::with_opened(open_process_in(std::move(cmd), std::move(opts)), std::move(f));
}
template <class F>
auto with_process_out(command cmd, F f, options opts = {}) {
    return detail::with_opened(open_process_out(std::move(cmd), std::move(opts)), std::move(f));
}
template <class F>
auto with_process_full(command cmd, F f, options opts = {}) {
    return detail::with_opened(open_process_full(std::move(cmd), std::move(opts)), std::move(f));
}

}  // namespace lwt::process
