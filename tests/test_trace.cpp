// LWT_TRACE=<file> (lib/detail/trace.cpp): a Chrome trace-event JSON file of what the program
// did. Each case runs tests/trace_program, a known program, with the variable set, and reads
// the file back. On both engines and with io_uring refused (the program inherits both).
#include <lwt/engine.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.hpp"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace {

using json = nlohmann::json;

// Runs the known program with LWT_TRACE=path; gives its exit status and what it printed on
// stderr.
std::pair<int, std::string> run_traced(const std::string& path, const std::vector<std::string>& args = {}) {
    test::temp_dir dir;
    const std::string err = dir.path + "/stderr";
    // (LWT_TRACE_PROGRAM in the environment: the program built with ThreadSanitizer.)
    const char* program = std::getenv("LWT_TRACE_PROGRAM");
    std::vector<std::string> argv_s{program != nullptr ? program : LWT_TRACE_PROGRAM};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_s{"LWT_TRACE=" + path};
    for (char** e = environ; *e != nullptr; ++e)
        if (std::string(*e).rfind("LWT_TRACE=", 0) != 0) env_s.emplace_back(*e);
    std::vector<char*> env;
    for (auto& e : env_s) env.push_back(e.data());
    env.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    const int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), env.data());
    posix_spawn_file_actions_destroy(&fa);
    REQUIRE(rc == 0);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    std::ifstream in(err);
    std::stringstream ss;
    ss << in.rdbuf();
    return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), ss.str()};
}

json read_trace(const std::string& path) {
    std::ifstream in(path);
    REQUIRE(in.good());
    json j;
    REQUIRE_NOTHROW(j = json::parse(in));  // throws on anything that is not JSON
    REQUIRE(j.contains("traceEvents"));
    REQUIRE(j["traceEvents"].is_array());
    return j["traceEvents"];
}

// Each thread's B and E events nest (every E closes the innermost open B, and none stays
// open); each async begin has exactly one end with the same category and id. Gives the
// number of B events per name.
std::map<std::string, int> check_pairs(const json& events) {
    std::map<long, std::vector<std::string>> open;  // by tid: the names of the open slices
    std::map<std::pair<std::string, std::string>, int> async;  // (cat, id) -> begins - ends
    std::map<std::string, int> runs;
    double last_ts = -1;
    long last_tid = -1;
    for (const json& e : events) {
        const std::string ph = e.at("ph");
        if (ph == "M") continue;
        const long tid = e.at("tid");
        const double ts = e.at("ts");
        // A thread's events are written in the order they happened (an X event, a whole
        // iteration, when it ends).
        if (ph != "X") {
            if (tid == last_tid) REQUIRE(ts >= last_ts);
            last_tid = tid;
            last_ts = ts;
        }
        if (ph == "B") {
            open[tid].push_back(e.at("name"));
            ++runs[e.at("name")];
        } else if (ph == "E") {
            INFO("an E event at " << ts << " on thread " << tid);
            REQUIRE_FALSE(open[tid].empty());
            open[tid].pop_back();
        } else if (ph == "b") {
            ++async[{e.at("cat"), e.at("id")}];
        } else if (ph == "e") {
            auto key = std::make_pair(std::string(e.at("cat")), std::string(e.at("id")));
            INFO("an async end " << key.first << " " << key.second);
            REQUIRE(async[key] == 1);  // begun, not ended yet
            --async[key];
        } else {
            REQUIRE(ph == "X");
            REQUIRE(e.at("dur").get<double>() >= 0);
        }
    }
    for (auto& [tid, names] : open) {
        INFO("thread " << tid << " left " << names.size() << " slices open");
        REQUIRE(names.empty());
    }
    for (auto& [key, n] : async) {
        INFO(key.first << " " << key.second);
        REQUIRE(n == 0);
    }
    return runs;
}

int count(const json& events, const std::string& ph, const std::string& cat, const std::string& name = "") {
    int n = 0;
    for (const json& e : events)
        if (e.at("ph") == ph && e.value("cat", "") == cat && (name.empty() || e.value("name", "") == name)) ++n;
    return n;
}

bool has_run_of(const std::map<std::string, int>& runs, const std::string& fn) {
    for (auto& [name, n] : runs)
        if (name.find(fn) != std::string::npos) return true;
    return false;
}

}  // namespace

TEST_CASE("the trace of a known program is valid JSON, its coroutine runs nest and each operation and sleep begins and ends once") {
    test::temp_dir dir;
    const std::string path = dir.path + "/trace.json";
    auto [status, err] = run_traced(path);
    INFO(err);
    REQUIRE(status == 0);
    const json events = read_trace(path);
    const auto runs = check_pairs(events);
    // The program's coroutines, named; each ran at least twice (its start and a resumption).
    for (const char* fn : {"session()", "echo(", "client(", "nap()", "send_all("}) {
        INFO(fn);
        REQUIRE(has_run_of(runs, fn));
    }
    // Three lines each way: at least the sends and receives that had to wait, their kinds named.
    REQUIRE(count(events, "b", "io") >= 4);
    REQUIRE(count(events, "b", "io", "recv") >= 3);
    REQUIRE(count(events, "b", "timer", "sleep") == 1);
    REQUIRE(count(events, "X", "loop", "iteration") >= 3);
    // A suspension names its await point (file:line, with addr2line and debug information).
    bool await_point = false;
    for (const json& e : events)
        if (e.at("ph") == "E" && e.contains("args") && e["args"].value("await point", "").find("trace_program.cpp:") != std::string::npos)
            await_point = true;
    // (Where the toolchain's debug information carries the co_await's line: g++; clang 14's,
    // read by binutils' addr2line, stops at the runtime's own call.)
#if !defined(__clang__)
    if (std::system("addr2line --version >/dev/null 2>&1") == 0) REQUIRE(await_point);
#else
    (void)await_point;
#endif
}

TEST_CASE("with loops::run, each loop has its own track, named, with its own iterations and coroutines") {
    test::temp_dir dir;
    const std::string path = dir.path + "/trace.json";
    auto [status, err] = run_traced(path, {"loops"});
    INFO(err);
    REQUIRE(status == 0);
    const json events = read_trace(path);
    check_pairs(events);
    std::map<long, std::string> names;
    std::set<long> iterating, running;
    for (const json& e : events) {
        if (e.at("ph") == "M" && e.at("name") == "thread_name") names[e.at("tid")] = e.at("args").at("name");
        if (e.at("ph") == "X") iterating.insert(e.at("tid").get<long>());
        if (e.at("ph") == "B" && std::string(e.at("name")).find("session()") != std::string::npos)
            running.insert(e.at("tid").get<long>());
    }
    REQUIRE(iterating.size() == 2);
    REQUIRE(running == iterating);
    std::set<std::string> loop_names;
    for (long t : running) loop_names.insert(names[t]);
    REQUIRE(loop_names == std::set<std::string>{"lwt loop 0", "lwt loop 1"});
}

TEST_CASE("a trace file that cannot be opened is one line on stderr, and the program runs untraced") {
    auto [status, err] = run_traced("/nonexistent-dir/trace.json");
    REQUIRE(status == 0);
    REQUIRE(err == "lwt: LWT_TRACE: cannot open /nonexistent-dir/trace.json for writing: No such file or directory (not tracing)\n");
}
