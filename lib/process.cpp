// Lwt_process: spawning with posix_spawn, reaping through the engine.
#include <lwt/bind.hpp>
#include <lwt/detail/engine.hpp>
#include <lwt/process.hpp>

#include <fmt/core.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace lwt::process {

command::command(std::vector<std::string> args) : argv(std::move(args)) {
    if (argv.empty()) throw std::invalid_argument("lwt::process::command: empty argv");
    program = argv[0];
}

command shell(std::string cmd) { return command("/bin/sh", {"/bin/sh", "-c", std::move(cmd)}); }

status status_of_wait(int raw) noexcept {
    if (WIFEXITED(raw)) return {status::kind::exited, WEXITSTATUS(raw)};
    if (WIFSIGNALED(raw)) return {status::kind::signaled, WTERMSIG(raw)};
    return {status::kind::stopped, WSTOPSIG(raw)};
}

std::string status::to_string() const {
    switch (k) {
        case kind::exited: return fmt::format("exited with code {}", code);
        case kind::signaled: return fmt::format("killed by signal {}", code);
        case kind::stopped: return fmt::format("stopped by signal {}", code);
    }
    return "?";
}

exit_error::exit_error(std::string cmd, process::status st, std::string output)
    : std::runtime_error(fmt::format("{}: {}", cmd, st.to_string())), st_(st), out_(std::move(output)) {}

}  // namespace lwt::process

namespace lwt::detail {

struct process_child {
    pid_t pid = -1;
    std::string text;  // the command, for messages
    std::optional<promise<process::status>> done;
    bool ended = false;
    bool timed_out = false;  // killed by options::timeout
    std::optional<promise<void>> timer;
    std::optional<io::output_channel> in;
    std::optional<io::input_channel> out, err;
};

}  // namespace lwt::detail

namespace lwt::process {

namespace {

using child_ptr = std::shared_ptr<detail::process_child>;

std::string describe(const command& c) {
    std::string s;
    for (const auto& a : c.argv) {
        if (!s.empty()) s += ' ';
        s += a;
    }
    return s;
}

promise<process::status> reap(pid_t pid) {
    auto [p, raw] = co_await unix_::waitpid(pid);
    (void)p;
    co_return status_of_wait(raw);
}

struct spawn_error {
    int err;
    std::string what;
};

// Applies a redirection of the child's descriptor `target`.
void redirect(posix_spawn_file_actions_t* fa, int target, const redirection& r, int open_flags) {
    switch (r.k) {
        case redirection::kind::keep: break;
        case redirection::kind::dev_null: posix_spawn_file_actions_addopen(fa, target, "/dev/null", open_flags, 0); break;
        case redirection::kind::close: posix_spawn_file_actions_addclose(fa, target); break;
        case redirection::kind::fd:
            if (r.fd < 0) throw std::invalid_argument("lwt::process: redirection to a negative descriptor");
            posix_spawn_file_actions_adddup2(fa, r.fd, target);
            break;
    }
}

// Spawns cmd; the child's standard input, output and error become pipes where pipe_in,
// pipe_out and pipe_err ask for one (the others follow options' redirections), and the
// parent ends go to the matching channel of the child record.
child_ptr spawn(const command& cmd, const options& o, bool pipe_in, bool pipe_out, bool pipe_err) {
    struct fds {
        int v[2] = {-1, -1};
        ~fds() {
            for (int f : v)
                if (f >= 0) ::close(f);
        }
    } p[3];
    bool want[3] = {pipe_in, pipe_out, pipe_err};
    for (int i = 0; i < 3; ++i)
        if (want[i] && ::pipe2(p[i].v, O_CLOEXEC) != 0) throw unix_::unix_error(errno, "pipe", "");

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    struct fa_guard {
        posix_spawn_file_actions_t* f;
        ~fa_guard() { posix_spawn_file_actions_destroy(f); }
    } fag{&fa};
    // The child's end of each pipe: stdin reads p[0].v[0]; stdout/stderr write p[i].v[1].
    if (pipe_in) posix_spawn_file_actions_adddup2(&fa, p[0].v[0], 0); else redirect(&fa, 0, o.stdin_, O_RDONLY);
    if (pipe_out) posix_spawn_file_actions_adddup2(&fa, p[1].v[1], 1); else redirect(&fa, 1, o.stdout_, O_WRONLY);
    if (pipe_err) posix_spawn_file_actions_adddup2(&fa, p[2].v[1], 2); else redirect(&fa, 2, o.stderr_, O_WRONLY);
    if (o.cwd) posix_spawn_file_actions_addchdir_np(&fa, o.cwd->c_str());

    // The child starts with an empty signal mask and default dispositions (the runtime
    // ignores SIGPIPE and may handle other signals: the child must not inherit that).
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    struct attr_guard {
        posix_spawnattr_t* a;
        ~attr_guard() { posix_spawnattr_destroy(a); }
    } ag{&attr};
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv;
    for (const auto& a : cmd.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::vector<char*> envp;
    if (o.env) {
        for (const auto& e : *o.env) envp.push_back(const_cast<char*>(e.c_str()));
        envp.push_back(nullptr);
    }
    char** env = o.env ? envp.data() : environ;

    pid_t pid = -1;
    int r = cmd.program.find('/') == std::string::npos
                ? posix_spawnp(&pid, cmd.program.c_str(), &fa, &attr, argv.data(), env)
                : posix_spawn(&pid, cmd.program.c_str(), &fa, &attr, argv.data(), env);
    if (r != 0) throw unix_::unix_error(r, "posix_spawn", fmt::format("\"{}\"", cmd.program));

    auto c = std::make_shared<detail::process_child>();
    c->pid = pid;
    c->text = describe(cmd);
    bool nonblock = lwt::detail::io_engine::current().wants_nonblocking();
    auto parent_end = [&](fds& f, int keep) {
        int fd = std::exchange(f.v[keep], -1);
        if (nonblock) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        return unix_::file_descr(fd);
    };
    if (pipe_in) c->in.emplace(io::of_fd(io::output, parent_end(p[0], 1)));
    if (pipe_out) c->out.emplace(io::of_fd(io::input, parent_end(p[1], 0)));
    if (pipe_err) c->err.emplace(io::of_fd(io::input, parent_end(p[2], 0)));

    c->done.emplace(reap(pid));
    std::weak_ptr<detail::process_child> weak = c;
    on_termination(*c->done, [weak] {
        if (auto ch = weak.lock()) {
            ch->ended = true;
            if (ch->timer) cancel(*ch->timer);
            if (ch->timed_out) {
                // Its own processes may keep the pipes open for ever: a reader takes what is
                // there already, then finds the channel closed instead of waiting.
                if (ch->in) io::abort(*ch->in);
                if (ch->out) io::abort(*ch->out);
                if (ch->err) io::abort(*ch->err);
            }
        }
    });
    if (o.timeout && c->done->is_pending()) {
        c->timer.emplace(unix_::sleep(*o.timeout));
        on_success(*c->timer, [weak] {
            if (auto ch = weak.lock())
                if (!ch->ended) {  // not reaped yet: the pid is still ours
                    ch->timed_out = true;
                    ::kill(ch->pid, SIGKILL);
                }
        });
    }
    return c;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Process objects.

pid_t process_none::pid() const noexcept { return c_->pid; }
promise<process::status> process_none::status() const { return *c_->done; }
bool process_none::running() const noexcept { return !c_->ended; }

void process_none::kill(int signum) const {
    if (!c_->ended && ::kill(c_->pid, signum) != 0) throw unix_::unix_error(errno, "kill", std::to_string(c_->pid));
}
void process_none::terminate() const { kill(SIGTERM); }

namespace {
promise<process::status> close_child(child_ptr c) {
    if (c->in) co_await io::close(*c->in);
    if (c->out) co_await io::close(*c->out);
    if (c->err) co_await io::close(*c->err);
    co_return co_await *c->done;
}
}  // namespace

promise<process::status> process_none::close() const { return close_child(c_); }

const io::input_channel& process_in::stdout_() const { return *c_->out; }
const io::output_channel& process_out::stdin_() const { return *c_->in; }
const io::output_channel& process_full::stdin_() const { return *c_->in; }
const io::input_channel& process_full::stdout_() const { return *c_->out; }
const io::input_channel& process_full::stderr_() const { return *c_->err; }

process_none open_process_none(command cmd, options opts) { return process_none(spawn(cmd, opts, false, false, false)); }
process_in open_process_in(command cmd, options opts) { return process_in(spawn(cmd, opts, false, true, false)); }
process_out open_process_out(command cmd, options opts) { return process_out(spawn(cmd, opts, true, false, false)); }
process_full open_process_full(command cmd, options opts) { return process_full(spawn(cmd, opts, true, true, true)); }

// ---------------------------------------------------------------------------------------
// One-shot functions.

namespace {

void check(const options& o, const std::string& text, const process::status& st, std::string out) {
    if (o.check && !st.success()) throw exit_error(text, st, std::move(out));
}

promise<process::status> exec_impl(command cmd, options o) {
    auto c = spawn(cmd, o, false, false, false);
    process::status st = co_await *c->done;
    check(o, c->text, st, "");
    co_return st;
}

// The child's stdout to its end -- or, after a timeout, to the point where it runs dry.
promise<std::string> read_output(child_ptr c) {
    std::string out;
    try {
        for (;;) {
            std::string chunk = co_await io::read(*c->out, 65536);
            if (chunk.empty()) break;
            out += chunk;
        }
    } catch (const io::channel_closed&) {
        if (!c->timed_out) throw;
    }
    co_return out;
}

promise<std::string> pread_impl(command cmd, options o) {
    auto c = spawn(cmd, o, false, true, false);
    std::string out = co_await read_output(c);
    process::status st = co_await close_child(c);
    check(o, c->text, st, out);
    co_return out;
}

promise<void> feed(child_ptr c, std::string input) {
    co_await io::write(*c->in, input);
    co_await io::close(*c->in);
}

// pwrite and pwrite_lines: `fill(c)` feeds the child's input and closes it; a child that
// stopped reading (EPIPE) is an error only if it then exited successfully.
template <class Fill>
promise<void> pwrite_with(command cmd, options o, Fill fill) {
    auto c = spawn(cmd, o, true, false, false);
    std::exception_ptr write_failed;
    try {
        co_await fill(c);
    } catch (const unix_::unix_error&) {
        write_failed = std::current_exception();  // e.g. EPIPE: the child did not read it all
    } catch (const io::channel_closed&) {
        if (!c->timed_out) throw;
    }
    process::status st = co_await close_child(c);
    check(o, c->text, st, "");
    if (write_failed && st.success()) std::rethrow_exception(write_failed);
}

promise<void> pwrite_impl(command cmd, std::string input, options o) {
    return pwrite_with(std::move(cmd), std::move(o), [input = std::move(input)](child_ptr c) { return feed(c, input); });
}

promise<std::string> pmap_impl(command cmd, std::string input, options o) {
    auto c = spawn(cmd, o, true, true, false);
    auto writer = feed(c, std::move(input));
    std::string out = co_await read_output(c);
    std::exception_ptr write_failed;
    try {
        co_await writer;
    } catch (const unix_::unix_error&) {
        write_failed = std::current_exception();
    } catch (const io::channel_closed&) {
        if (!c->timed_out) throw;
    }
    process::status st = co_await close_child(c);
    check(o, c->text, st, out);
    if (write_failed && st.success()) std::rethrow_exception(write_failed);
    co_return out;
}

promise<std::optional<std::string>> next_line(child_ptr c, options o) {
    std::optional<std::string> line;
    try {
        line = co_await io::read_line_opt(*c->out);
    } catch (const io::channel_closed&) {
        if (!c->timed_out) throw;  // (timed out: the end of its output)
    }
    if (!line) {
        process::status st = co_await close_child(c);
        check(o, c->text, st, "");
    }
    co_return line;
}

promise<std::string> pread_line_impl(command cmd, options o) {
    std::string out = co_await pread(std::move(cmd), std::move(o));
    const auto nl = out.find('\n');
    if (out.empty()) throw end_of_file();
    co_return out.substr(0, nl);  // (npos: a last line without its newline)
}

// Each line of `lines` and a newline, then the end of the child's input.
promise<void> feed_lines(child_ptr c, stream<std::string> lines) {
    for (;;) {
        std::optional<std::string> l = co_await lines.get();
        if (!l) break;
        co_await io::write_line(*c->in, *l);
    }
    co_await io::close(*c->in);
}

// pmap_lines' feeder: a child that stops reading ends it (EPIPE; or a closed channel after a
// timeout): what the child printed is still read, and its output's stream says how it ended.
promise<void> feed_lines_quietly(child_ptr c, stream<std::string> lines) {
    try {
        co_await feed_lines(std::move(c), std::move(lines));
    } catch (const std::exception&) {
    }
}

}  // namespace

promise<status> exec(command cmd, options opts) { return exec_impl(std::move(cmd), std::move(opts)); }
promise<std::string> pread(command cmd, options opts) { return pread_impl(std::move(cmd), std::move(opts)); }
promise<void> pwrite(command cmd, std::string input, options opts) {
    return pwrite_impl(std::move(cmd), std::move(input), std::move(opts));
}
promise<std::string> pmap(command cmd, std::string input, options opts) {
    return pmap_impl(std::move(cmd), std::move(input), std::move(opts));
}

stream<std::string> pread_lines(command cmd, options opts) {
    auto c = spawn(cmd, opts, false, true, false);
    return stream<std::string>::from([c, opts] { return next_line(c, opts); });
}

promise<std::string> pread_line(command cmd, options opts) {
    return pread_line_impl(std::move(cmd), std::move(opts));
}
promise<void> pwrite_line(command cmd, std::string line, options opts) {
    return pwrite(std::move(cmd), std::move(line) + "\n", std::move(opts));
}
promise<void> pwrite_lines(command cmd, stream<std::string> lines, options opts) {
    return pwrite_with(std::move(cmd), std::move(opts), [lines = std::move(lines)](child_ptr c) { return feed_lines(c, lines); });
}
promise<std::string> pmap_line(command cmd, std::string line, options opts) {
    return lwt::bind(pmap(std::move(cmd), std::move(line) + "\n", std::move(opts)), [](std::string out) {
        if (out.empty()) return lwt::fail<std::string>(end_of_file());
        return lwt::return_(out.substr(0, out.find('\n')));
    });
}
stream<std::string> pmap_lines(command cmd, stream<std::string> input, options opts) {
    auto c = spawn(cmd, opts, true, true, false);
    lwt::async([c, input] { return feed_lines_quietly(c, input); });
    return stream<std::string>::from([c, opts] { return next_line(c, opts); });
}

}  // namespace lwt::process
