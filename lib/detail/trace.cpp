// The registry of recorded coroutines and the Chrome trace (trace.hpp has the reading guide).
//
// Per thread: the registry's slots and the trace's events, both behind a plain pointer so
// that a note made while the thread's destructors run (an engine's teardown ends coroutines)
// after the record is gone does nothing. Per process: the trace file and its writer thread
// (trace_file), and the settings threads inherit.
#include <lwt/detail/engine.hpp>
#include <lwt/detail/io_op.hpp>
#include <lwt/detail/trace.hpp>

#include <dlfcn.h>
#include <fcntl.h>
#include <fmt/compile.h>
#include <fmt/core.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

extern char** environ;

namespace lwt::detail {

namespace {

// What threads made after now inherit (inherit_tracing).
std::atomic<std::uint8_t> process_tracing{0};

// ---------------------------------------------------------------------------------------
// Per thread.

struct slot {
    cell_base* cell = nullptr;
    coro_info* info = nullptr;  // null: free
    const void* where = nullptr;
    std::int64_t since = 0;
    std::uint32_t next_free = 0;  // free list, index + 1
    bool foreign = false;
};

enum class ev : std::uint8_t { run_begin, run_end, op_begin, op_end, timer_begin, timer_end, iteration };

struct event {
    std::int64_t ts;
    std::int64_t dur;        // iteration: its length
    const void* code;        // run_*: the coroutine's resume function
    const void* where;       // run_end at a suspension: its await point
    const char* name;        // op_*: the operation's kind
    std::uint64_t id;        // op_*, timer_*: the async event's id
    int fd;
    ev kind;
    char why;                // run_begin: 's'tart, 'r'esumption; run_end: 's'uspension, 'e'nd, 'd'eferred
};

struct thread_record {
    std::vector<slot> slots;
    std::uint32_t free_head = 0;
    std::vector<event> events;
    std::unordered_map<const void*, std::uint64_t> ops, timers;  // what has begun, by address
    int tid = static_cast<int>(::gettid());
    std::string name;  // the track's name (empty: "main thread" or "thread <tid>")
    bool flush_at_exit = false;
};

// The thread's record, and its owner: the owner's destructor runs at the thread's end and
// clears the pointer, after which notes do nothing.
constinit LWT_TLS thread_record* rec = nullptr;
struct record_owner {
    std::unique_ptr<thread_record> r;
    ~record_owner();  // hands what is left to the writer (defined below, with hand_off)
};
thread_local record_owner owner;

thread_record* record() {
    if (LWT_LIKELY(rec != nullptr)) return rec;
    try {
        owner.r = std::make_unique<thread_record>();
    } catch (...) {
        ctx.tracing = 0;  // no memory to record: stop, rather than fail the program
        return nullptr;
    }
    rec = owner.r.get();
    return rec;
}

slot* slot_of(const coro_info* info) noexcept {
    if (rec == nullptr || info->trace_slot == 0 || info->trace_slot > rec->slots.size()) return nullptr;
    slot& s = rec->slots[info->trace_slot - 1];
    return s.info == info ? &s : nullptr;
}


// ---------------------------------------------------------------------------------------
// The trace file.

// A batch of one thread's events, handed to the writer.
struct batch {
    int tid;
    std::string name;  // the thread's track name (empty: "main thread" or "thread <tid>")
    std::vector<event> events;
};

// The trace file and its writer thread. Loop threads only append binary events to their own
// vector and hand full vectors over (hand_off): the writer resolves code addresses (addr2line
// takes tens of milliseconds), formats the JSON and writes it, so a traced loop never waits
// for a disk or a subprocess. `m` guards the queue; the rest is the writer's alone.
struct trace_file {
    std::mutex m;
    std::condition_variable cv;
    std::deque<batch> queue;
    std::size_t queued_events = 0;
    std::uint64_t dropped = 0;   // events thrown away while the writer was too far behind
    bool closing = false;
    bool closed = false;
    std::thread writer;
    // The writer's:
    std::FILE* f = nullptr;
    bool first = true;
    std::int64_t t0 = 0;
    pid_t pid = 0;  // the process that opened the file
    std::unordered_map<const void*, code_place> names;  // resolved code addresses
    std::unordered_map<const void*, std::string> json;  // their JSON strings, quoted
    std::unordered_map<int, std::string> track_names;   // the names written, by thread
};
trace_file* trace = nullptr;  // set once, before main; never freed (threads may hand off late)

// Batches waiting for the writer, at most (32 of 32768 events: about 48 MiB of events);
// beyond, events are dropped and counted, so memory stays bounded when a loop makes events
// faster than the writer formats them.
constexpr std::size_t max_queued_events = std::size_t{1} << 20;

void json_string(std::string& out, std::string_view s) {
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out += c;
        }
    }
    out += '"';
}

std::string place_text(const code_place& p) {
    if (p.file.empty()) return p.function;
    return fmt::format("{} ({}:{})", p.function, p.file, p.line);
}

// Formats and writes a batch (on the writer thread).
void write_batch(batch& r) {
    // Resolve the new addresses in one addr2line per module.
    std::vector<const void*> code, where;
    {
        std::unordered_set<const void*> asked;
        for (const event& e : r.events) {
            if (e.code != nullptr && !trace->names.count(e.code) && asked.insert(e.code).second) code.push_back(e.code);
            if (e.where != nullptr && !trace->names.count(e.where) && asked.insert(e.where).second) where.push_back(e.where);
        }
    }
    try {
        if (!code.empty()) {
            auto p = symbolize(code, false);
            for (std::size_t i = 0; i < code.size(); ++i) trace->names.emplace(code[i], std::move(p[i]));
        }
        if (!where.empty()) {
            auto p = symbolize(where, true);
            for (std::size_t i = 0; i < where.size(); ++i) trace->names.emplace(where[i], std::move(p[i]));
        }
    } catch (...) {
    }
    // The JSON strings of names and await points, escaped once per address.
    auto json_of = [&](const void* a, bool await_point) -> const std::string& {
        auto it = trace->json.find(a);
        if (it != trace->json.end()) return it->second;
        std::string text;
        if (auto n = trace->names.find(a); n != trace->names.end())
            text = await_point ? place_text(n->second) : n->second.function;
        else
            text = fmt::format("code at {}", a);
        std::string j;
        json_string(j, text);
        return trace->json.emplace(a, std::move(j)).first->second;
    };
    // (fmt's own buffer and compiled formats: an event costs a few hundred instructions.)
    struct json_out {
        fmt::memory_buffer b;
        json_out& operator+=(std::string_view s) {
            b.append(s);
            return *this;
        }
    } out;
    const int pid = static_cast<int>(::getpid());
    auto sink = fmt::appender(out.b);
    auto head = [&](char ph, std::int64_t ts) {
        out += trace->first ? "\n" : ",\n";
        trace->first = false;
        const std::int64_t rel = ts - trace->t0;  // ns; the format's unit is the microsecond
        fmt::format_to(sink, FMT_COMPILE(R"({{"ph":"{}","pid":{},"tid":{},"ts":{}.{:03})"), ph, pid, r.tid, rel / 1000, rel % 1000);
    };
    const std::string tname = !r.name.empty() ? r.name : r.tid == pid ? std::string("main thread") : fmt::format("thread {}", r.tid);
    if (auto it = trace->track_names.find(r.tid); it == trace->track_names.end() || it->second != tname) {
        trace->track_names[r.tid] = tname;
        out += trace->first ? "\n" : ",\n";
        trace->first = false;
        fmt::format_to(sink, R"({{"ph":"M","pid":{},"tid":{},"name":"thread_name","args":{{"name":)", pid, r.tid);
        std::string j;
        json_string(j, tname);
        out += j;
        out += "}}";
    }
    for (const event& e : r.events) {
        switch (e.kind) {
            case ev::run_begin:
                head('B', e.ts);
                out += R"(,"cat":"coroutine","name":)";
                out += json_of(e.code, false);
                out += e.why == 's' ? R"(,"args":{"begins":"start"}})" : R"(,"args":{"begins":"resumption"}})";
                break;
            case ev::run_end: {
                head('E', e.ts);
                out += R"(,"cat":"coroutine","args":{"ends":)";
                out += e.why == 'e' ? R"("end")" : e.why == 'd' ? R"("start deferred")" : R"("suspension")";
                if (e.where != nullptr) {
                    out += R"(,"await point":)";
                    out += json_of(e.where, true);
                }
                out += "}}";
                break;
            }
            case ev::op_begin:
            case ev::op_end:
                head(e.kind == ev::op_begin ? 'b' : 'e', e.ts);
                fmt::format_to(sink, FMT_COMPILE(R"(,"cat":"io","id":"0x{:x}","name":"{}")"), e.id, e.name);  // (kinds need no escaping)
                fmt::format_to(sink, FMT_COMPILE(R"(,"args":{{"{}":{}}}}})"), e.kind == ev::op_begin ? "fd" : "result", e.fd);
                break;
            case ev::timer_begin:
            case ev::timer_end:
                head(e.kind == ev::timer_begin ? 'b' : 'e', e.ts);
                fmt::format_to(sink, FMT_COMPILE(R"(,"cat":"timer","id":"0x{:x}","name":"sleep")"), e.id);
                if (e.kind == ev::timer_begin)
                    fmt::format_to(sink, R"(,"args":{{"due in ms":{:.3f}}}}})", static_cast<double>(e.dur) / 1e6);
                else
                    out += e.why == 'f' ? R"(,"args":{"ends":"fired"}})" : R"(,"args":{"ends":"removed"}})";
                break;
            case ev::iteration:
                head('X', e.ts);
                fmt::format_to(sink, FMT_COMPILE(R"(,"cat":"loop","name":"iteration","dur":{}.{:03}}})"), e.dur / 1000, e.dur % 1000);
                break;
        }
    }
    std::fwrite(out.b.data(), 1, out.b.size(), trace->f);
}

void writer_main() {
    std::unique_lock lock(trace->m);
    for (;;) {
        trace->cv.wait(lock, [] { return !trace->queue.empty() || trace->closing; });
        if (trace->queue.empty()) break;  // closing, and everything written
        batch b = std::move(trace->queue.front());
        trace->queue.pop_front();
        trace->queued_events -= b.events.size();
        lock.unlock();
        try {
            write_batch(b);
        } catch (...) {
            // No memory to format: this batch is lost, the trace goes on.
        }
        lock.lock();
    }
}

// Hands this thread's events to the writer (starting it the first time).
void hand_off(thread_record& r) noexcept {
    if (trace == nullptr || r.events.empty()) return;
    try {
        std::lock_guard lock(trace->m);
        if (trace->closed || trace->queued_events + r.events.size() > max_queued_events) {
            trace->dropped += r.events.size();
            r.events.clear();
            return;
        }
        if (!trace->writer.joinable()) trace->writer = std::thread(writer_main);
        trace->queued_events += r.events.size();
        trace->queue.push_back(batch{r.tid, r.name, std::move(r.events)});
        r.events = {};
        r.events.reserve(1024);
        trace->cv.notify_one();
    } catch (...) {
        r.events.clear();  // no thread or no memory: the events are lost, the program goes on
    }
}



constexpr std::size_t batch_events = 1 << 15;

void push(event e) noexcept {
    thread_record* r = rec;
    if (r == nullptr) return;
    try {
        if (!r->flush_at_exit) {
            r->flush_at_exit = true;
            register_exit_hook([] { flush_trace(); });
        }
        r->events.push_back(e);
        if (r->events.size() >= batch_events) hand_off(*r);
    } catch (...) {
        // No memory for the trace: the trace loses events, the program goes on.
    }
}

bool tracing_events() noexcept { return (ctx.tracing & trace_events) != 0; }

// Async events' ids: the thread in the high half, so that loops never share one.
constinit LWT_TLS std::uint64_t thread_ids = 0;

std::uint64_t new_id() noexcept { return (static_cast<std::uint64_t>(::gettid()) << 32) | ++thread_ids; }

record_owner::~record_owner() {
    if (rec != nullptr) hand_off(*rec);
    rec = nullptr;
    ctx.tracing = 0;
}

// At exit: the writer writes what was handed over, then the file is closed. Events made
// after this are dropped (a loop thread still running at exit).
void close_trace() noexcept {
    // (A child made by fork() that exits has a copy of the writer's std::thread, not the
    // thread: it leaves the file to its parent.)
    if (trace == nullptr || ::getpid() != trace->pid) return;
    if (rec != nullptr) hand_off(*rec);
    {
        std::lock_guard lock(trace->m);
        if (trace->closed) return;
        trace->closing = true;
        trace->cv.notify_one();
    }
    if (trace->writer.joinable()) trace->writer.join();
    std::lock_guard lock(trace->m);
    trace->closed = true;
    std::fputs("\n]}\n", trace->f);
    std::fclose(trace->f);
    if (trace->dropped > 0)
        std::fprintf(stderr, "lwt: LWT_TRACE: %llu events were dropped: the trace's writer fell behind\n",
                     static_cast<unsigned long long>(trace->dropped));
}

// LWT_TRACE=<file>: opened before main, so that every coroutine of the program is recorded.
__attribute__((constructor)) void open_trace_from_env() {
    const char* path = std::getenv("LWT_TRACE");
    if (path == nullptr || *path == '\0') return;
    std::FILE* f = std::fopen(path, "we");
    if (f == nullptr) {
        std::fprintf(stderr, "lwt: LWT_TRACE: cannot open %s for writing: %s (not tracing)\n", path, std::strerror(errno));
        return;
    }
    trace = new trace_file;
    trace->f = f;
    trace->t0 = monotonic_ns();
    trace->pid = ::getpid();
    std::fputs(R"({"displayTimeUnit":"ms","traceEvents":[)", f);
    process_tracing.store(record_coroutines | trace_events, std::memory_order_relaxed);
    ctx.tracing = record_coroutines | trace_events;
    std::atexit(close_trace);
}

// A coroutine's run begins or ends now (why: see event::why).
void push_run(const slot& s, ev kind, char why) noexcept {
    push({monotonic_ns(), 0, code_of(s.cell), nullptr, nullptr, 0, -1, kind, why});
}

}  // namespace

const void* code_of(const cell_base* c) noexcept {
    if (c == nullptr || c->maker != cell_base::made_by::coroutine) return nullptr;
    // (The frame: the resume and destroy pointers, then the promise.)
    return *reinterpret_cast<void* const*>(reinterpret_cast<const char*>(c) - 16);
}

// ---------------------------------------------------------------------------------------
// Notes.

void note_start(cell_base* c, coro_info* info) noexcept {
    if (!(ctx.tracing & record_coroutines)) return;
    thread_record* r = record();
    if (r == nullptr) return;
    std::uint32_t i;
    try {
        if (r->free_head != 0) {
            i = r->free_head - 1;
            r->free_head = r->slots[i].next_free;
        } else {
            r->slots.emplace_back();
            i = static_cast<std::uint32_t>(r->slots.size() - 1);
        }
    } catch (...) {
        return;  // not recorded
    }
    r->slots[i] = slot{c, info, nullptr, 0, 0, false};
    info->trace_slot = i + 1;
    info->flags |= coro_info::recorded;
    if (tracing_events()) push_run(r->slots[i], ev::run_begin, 's');
}

void note_suspension(coro_info* info) noexcept {
    const void* where = __builtin_return_address(0);
    slot* s = slot_of(info);
    if (s == nullptr) return;
    s->where = where;
    s->since = monotonic_ns();
    s->foreign = false;
    if (!tracing_events()) return;
    push({s->since, 0, code_of(s->cell), where, nullptr, 0, -1, ev::run_end, 's'});
    // An operation awaited directly (unix_::operation, io_awaiter) is set as `awaiting`
    // before the suspension: it begins here.
    if (info->awaiting != nullptr && info->awaiting->cancel_fn == &cancel_io_op)
        trace_op_begin(*static_cast<const io_op*>(info->awaiting));
}

void trace_op_begin(const io_op& op) noexcept {
    thread_record* r = record();
    if (r == nullptr) return;
    try {
        const std::uint64_t id = new_id();
        r->ops[&op] = id;
        push({monotonic_ns(), 0, nullptr, nullptr, op.traits().name, id, op.fd, ev::op_begin, 0});
    } catch (...) {
    }
}

void note_foreign_wait(coro_info* info) noexcept {
    if (slot* s = slot_of(info)) s->foreign = true;
}

void note_resumption(coro_info* info) noexcept {
    slot* s = slot_of(info);
    if (s == nullptr) return;
    s->since = 0;
    s->foreign = false;
    if (tracing_events()) push_run(*s, ev::run_begin, 'r');
}

void note_deferred_start(coro_info* info) noexcept {
    slot* s = slot_of(info);
    if (s != nullptr && tracing_events()) push_run(*s, ev::run_end, 'd');
}

void note_end(coro_info* info) noexcept {
    slot* s = slot_of(info);
    if (s == nullptr) return;
    if (tracing_events()) push_run(*s, ev::run_end, 'e');
    const std::uint32_t i = info->trace_slot - 1;
    *s = slot{};
    s->next_free = rec->free_head;
    rec->free_head = i + 1;
    info->trace_slot = 0;
}

void trace_op_end(const io_op& op, coro_info* resumes) noexcept {
    if (rec == nullptr) return;
    if (auto it = rec->ops.find(&op); it != rec->ops.end()) {
        push({monotonic_ns(), 0, nullptr, nullptr, op.traits().name, it->second, op.res, ev::op_end, 0});
        rec->ops.erase(it);
    }
    if (resumes != nullptr && (resumes->flags & coro_info::recorded)) note_resumption(resumes);
}

void trace_timer_begin(const void* timer, std::int64_t deadline_ns) noexcept {
    thread_record* r = record();
    if (r == nullptr) return;
    try {
        const std::uint64_t id = new_id();
        r->timers[timer] = id;
        const std::int64_t now = monotonic_ns();
        push({now, deadline_ns - now, nullptr, nullptr, nullptr, id, -1, ev::timer_begin, 0});
    } catch (...) {
    }
}

void trace_timer_end(const void* timer, bool fired) noexcept {
    if (rec == nullptr) return;
    if (auto it = rec->timers.find(timer); it != rec->timers.end()) {
        push({monotonic_ns(), 0, nullptr, nullptr, nullptr, it->second, -1, ev::timer_end, fired ? 'f' : 'r'});
        rec->timers.erase(it);
    }
}

void trace_iteration(std::int64_t begin_ns, std::int64_t end_ns) noexcept {
    if (record() != nullptr) push({begin_ns, end_ns - begin_ns, nullptr, nullptr, nullptr, 0, -1, ev::iteration, 0});
}

void name_trace_thread(std::string name) noexcept {
    inherit_tracing();
    if (!(ctx.tracing & trace_events)) return;
    if (thread_record* r = record()) {
        hand_off(*r);  // (what came before goes out under the old name)
        r->name = std::move(name);
    }
}

void inherit_tracing() noexcept { ctx.tracing |= process_tracing.load(std::memory_order_relaxed); }

void flush_trace() noexcept {
    if (rec != nullptr) hand_off(*rec);
}

void set_process_recording(bool on) noexcept {
    if (on) {
        process_tracing.fetch_or(record_coroutines, std::memory_order_relaxed);
        ctx.tracing |= record_coroutines;
    } else {
        process_tracing.fetch_and(static_cast<std::uint8_t>(~record_coroutines), std::memory_order_relaxed);
        if (!(ctx.tracing & trace_events)) ctx.tracing = 0;
    }
}

std::vector<recorded_coroutine> suspended_coroutines() {
    std::vector<recorded_coroutine> out;
    if (rec == nullptr) return out;
    for (const slot& s : rec->slots) {
        if (s.info == nullptr || !s.cell->pending()) continue;
        if (s.info->awaiting == nullptr && !s.foreign) continue;  // running, or its start is deferred
        out.push_back({s.cell, s.info, code_of(s.cell), s.where, s.since, s.foreign});
    }
    return out;
}

// ---------------------------------------------------------------------------------------
// Symbolization.

namespace {

// g++ names a coroutine's parts "f(int) [clone .actor]", clang "f(int) (.resume)".
std::string strip_clone_suffix(std::string f) {
    for (;;) {
        const auto clone = f.rfind(" [clone ");
        const auto part = f.rfind(" (.");
        if (!f.empty() && f.back() == ']' && clone != std::string::npos) {
            f.resize(clone);
        } else if (!f.empty() && f.back() == ')' && part != std::string::npos && f.find(')', part) == f.size() - 1) {
            f.resize(part);
        } else {
            return f;
        }
    }
}

// g++ gives a coroutine's actor, in the debug information, the name
// "f(f(int)::_Z...Frame*)": its parameter is the frame, a type local to f(int). Keep "f(int)".
std::string strip_frame_parameter(std::string f) {
    const auto mangled = f.rfind("::_Z");
    if (mangled == std::string::npos || f.size() < 8 || f.compare(f.size() - 8, 8, ".Frame*)") != 0) return f;
    // The inner name begins as the outer one does, after the outer name's "(".
    const std::string head = "(" + f.substr(0, std::min<std::size_t>(16, mangled));
    const auto inner = f.find(head, 1);
    if (inner == std::string::npos || inner >= mangled) return f;
    return f.substr(inner + 1, mangled - inner - 1);
}

std::string clean_name(std::string f) { return strip_frame_parameter(strip_clone_suffix(std::move(f))); }

// A source path as a reader wants it: without "build/../", and relative to the working
// directory when it lies below it.
std::string readable_path(const std::string& p) {
    std::string n = std::filesystem::path(p).lexically_normal().string();
    std::error_code ec;
    const std::string cwd = std::filesystem::current_path(ec).string();
    if (!ec && !cwd.empty() && n.size() > cwd.size() + 1 && n.compare(0, cwd.size(), cwd) == 0 && n[cwd.size()] == '/')
        n.erase(0, cwd.size() + 1);
    return n;
}

// Runs `addr2line -a -f -C -i -e module offsets...` and parses its answer: for each address,
// the pairs (function, file:line) from the innermost inlined frame out; the last is kept.
bool addr2line(const std::string& module, const std::vector<std::uintptr_t>& offsets, std::vector<code_place>& out) {
    std::vector<std::string> args{"addr2line", "-a", "-f", "-C", "-i", "-e", module};
    for (auto o : offsets) args.push_back(fmt::format("{:#x}", o));
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = -1;
    const int rc = ::posix_spawnp(&pid, "addr2line", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(p[1]);
    if (rc != 0) {
        ::close(p[0]);
        return false;
    }
    std::string text;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(p[0], buf, sizeof buf);
        if (n > 0) {
            text.append(buf, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            break;
        }
    }
    ::close(p[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    // Parse: "0x<addr>" lines open a group; then function / location lines alternate.
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t nl = text.find('\n', at);
        if (nl == std::string::npos) nl = text.size();
        lines.push_back(text.substr(at, nl - at));
        at = nl + 1;
    }
    std::size_t group = 0;
    bool any = false;
    for (std::size_t i = 0; i < lines.size();) {
        if (lines[i].rfind("0x", 0) == 0) {
            if (any) ++group;
            any = true;
            ++i;
            continue;
        }
        if (!any || group >= out.size() || i + 1 >= lines.size()) break;
        code_place& c = out[group];
        if (lines[i] != "??") c.function = clean_name(lines[i]);
        std::string loc = lines[i + 1];
        if (auto d = loc.find(" (discriminator"); d != std::string::npos) loc.resize(d);
        const auto colon = loc.rfind(':');
        if (colon != std::string::npos && loc.compare(0, 2, "??") != 0) {
            const unsigned line = static_cast<unsigned>(std::strtoul(loc.c_str() + colon + 1, nullptr, 10));
            if (line != 0) {
                c.file = readable_path(loc.substr(0, colon));
                c.line = line;
            }
        }
        i += 2;
    }
    return any;
}

// The program's own file (dladdr names it as it was started, maybe relative to a directory
// since left; /proc/self/exe would name addr2line's own).
std::string self_exe() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("/proc/self/exe");
}

}  // namespace

std::vector<code_place> symbolize(const std::vector<const void*>& addresses, bool return_addresses) {
    std::vector<code_place> out(addresses.size());
    std::vector<bool> exported(addresses.size());
    // By module: the offsets to look up, and where their answers go.
    std::map<std::string, std::pair<std::vector<std::uintptr_t>, std::vector<std::size_t>>> modules;
    for (std::size_t i = 0; i < addresses.size(); ++i) {
        const void* a = addresses[i];
        if (a == nullptr) {
            out[i].function.assign(1, '?');  // (g++ 12 warns, wrongly, of an overlapping copy for = "?")
            continue;
        }
        const void* look = return_addresses ? static_cast<const char*>(a) - 1 : a;
        Dl_info info{};
        if (::dladdr(look, &info) == 0 || info.dli_fbase == nullptr) {
            out[i].function = fmt::format("code at {}", a);
            continue;
        }
        // A symbol the dynamic table exports keeps its linkage name (the debug information's
        // name of a g++ actor is odd: strip_frame_parameter); addr2line adds file:line.
        out[i].function = clean_name(name_of_code(a));
        exported[i] = info.dli_sname != nullptr;
        std::string module = info.dli_fname != nullptr && info.dli_fname[0] == '/' ? info.dli_fname : self_exe();
        auto& m = modules[module];
        m.first.push_back(static_cast<std::uintptr_t>(static_cast<const char*>(look) - static_cast<const char*>(info.dli_fbase)));
        m.second.push_back(i);
    }
    for (auto& [module, m] : modules) {
        std::vector<code_place> answers(m.first.size());
        if (!addr2line(module, m.first, answers)) continue;
        for (std::size_t k = 0; k < answers.size(); ++k) {
            code_place& c = out[m.second[k]];
            // An await point whose outermost frame is still the runtime's own suspension
            // (clang 14's debug information, read by binutils, ends the inline chain there):
            // its line says nothing about the program; keep the function only.
            if (return_addresses && answers[k].file.size() >= 24 &&
                answers[k].file.compare(answers[k].file.size() - 24, 24, "lwt/detail/coroutine.hpp") == 0) {
                c.function = strip_clone_suffix(name_of_code(addresses[m.second[k]]));
                continue;
            }
            if (!answers[k].function.empty() && (return_addresses || !exported[m.second[k]]))
                c.function = std::move(answers[k].function);
            c.file = std::move(answers[k].file);
            c.line = answers[k].line;
        }
    }
    return out;
}

}  // namespace lwt::detail
