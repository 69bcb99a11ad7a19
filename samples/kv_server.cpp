// kv_server: a small key-value server speaking the Redis protocol (RESP2): PING, ECHO, GET,
// SET (with EX/PX/NX/XX), DEL, EXISTS, INCR, INCRBY, DECR, EXPIRE, PEXPIRE, TTL, DBSIZE,
// FLUSHALL, QUIT, and the COMMAND/CONFIG probes clients send. Pipelined requests are
// answered in order, and the replies to a batch go out in one write. Inline commands (plain
// text lines, as nc sends) are understood too.
//
//   kv_server PORT
//   try: build/samples/kv_server 6400 &  redis-cli -p 6400 set k v ; redis-cli -p 6400 get k
//        redis-benchmark -p 6400 -t set,get,incr -n 100000 -P 16 -q
#include <lwt/lwt.hpp>

#include "lingering_close.hpp"
#include "log_failures.hpp"
#include "resp.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

using namespace lwt;

namespace {

struct entry {
    std::string value;
    std::int64_t expires_ms = 0;  // 0: never
};
std::unordered_map<std::string, entry> db;

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The live entry for a key (an expired one is removed on the way).
entry* find(const std::string& k) {
    auto it = db.find(k);
    if (it == db.end()) return nullptr;
    if (it->second.expires_ms != 0 && it->second.expires_ms <= now_ms()) {
        db.erase(it);
        return nullptr;
    }
    return &it->second;
}

std::string simple(const std::string& s) { return "+" + s + "\r\n"; }
std::string error(const std::string& s) { return "-" + s + "\r\n"; }
std::string integer(long long v) { return fmt::format(":{}\r\n", v); }
std::string bulk(const std::string& s) { return fmt::format("${}\r\n{}\r\n", s.size(), s); }
const std::string nil = "$-1\r\n";

std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    return s;
}

bool to_int(const std::string& s, long long& out) {
    if (s.empty()) return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtoll(s.c_str(), &end, 10);
    return errno == 0 && end == s.c_str() + s.size();
}

std::string wrong_args(const std::string& cmd) {
    return error("ERR wrong number of arguments for '" + cmd + "' command");
}

std::string incr_by(const std::string& key, long long by) {
    entry* e = find(key);
    long long v = 0;
    if (e && !to_int(e->value, v)) return error("ERR value is not an integer or out of range");
    v += by;
    if (e)
        e->value = std::to_string(v);
    else
        db[key] = entry{std::to_string(v), 0};
    return integer(v);
}

// One command; `quit` is set by QUIT.
std::string execute(const std::vector<std::string>& a, bool& quit) {
    if (a.empty()) return "";
    std::string cmd = upper(a[0]);
    std::size_t n = a.size();
    if (cmd == "PING") return n == 1 ? simple("PONG") : bulk(a[1]);
    if (cmd == "ECHO") return n == 2 ? bulk(a[1]) : wrong_args("echo");
    if (cmd == "GET") {
        if (n != 2) return wrong_args("get");
        entry* e = find(a[1]);
        return e ? bulk(e->value) : nil;
    }
    if (cmd == "SET") {
        if (n < 3) return wrong_args("set");
        std::int64_t expires = 0;
        bool nx = false, xx = false;
        for (std::size_t i = 3; i < n; ++i) {
            std::string opt = upper(a[i]);
            long long t = 0;
            if ((opt == "EX" || opt == "PX") && i + 1 < n && to_int(a[i + 1], t) && t > 0) {
                expires = now_ms() + (opt == "EX" ? t * 1000 : t);
                ++i;
            } else if (opt == "NX") {
                nx = true;
            } else if (opt == "XX") {
                xx = true;
            } else {
                return error("ERR syntax error");
            }
        }
        bool exists = find(a[1]) != nullptr;
        if ((nx && exists) || (xx && !exists)) return nil;
        db[a[1]] = entry{a[2], expires};
        return simple("OK");
    }
    if (cmd == "DEL") {
        if (n < 2) return wrong_args("del");
        long long removed = 0;
        for (std::size_t i = 1; i < n; ++i)
            if (find(a[i])) removed += static_cast<long long>(db.erase(a[i]));
        return integer(removed);
    }
    if (cmd == "EXISTS") {
        if (n < 2) return wrong_args("exists");
        long long c = 0;
        for (std::size_t i = 1; i < n; ++i) c += find(a[i]) ? 1 : 0;
        return integer(c);
    }
    if (cmd == "INCR") return n == 2 ? incr_by(a[1], 1) : wrong_args("incr");
    if (cmd == "DECR") return n == 2 ? incr_by(a[1], -1) : wrong_args("decr");
    if (cmd == "INCRBY") {
        long long by = 0;
        if (n != 3) return wrong_args("incrby");
        if (!to_int(a[2], by)) return error("ERR value is not an integer or out of range");
        return incr_by(a[1], by);
    }
    if (cmd == "EXPIRE" || cmd == "PEXPIRE") {
        long long t = 0;
        if (n != 3) return wrong_args(cmd == "EXPIRE" ? "expire" : "pexpire");
        if (!to_int(a[2], t)) return error("ERR value is not an integer or out of range");
        entry* e = find(a[1]);
        if (!e) return integer(0);
        if (t <= 0) {
            db.erase(a[1]);
        } else {
            e->expires_ms = now_ms() + (cmd == "EXPIRE" ? t * 1000 : t);
        }
        return integer(1);
    }
    if (cmd == "TTL") {
        if (n != 2) return wrong_args("ttl");
        entry* e = find(a[1]);
        if (!e) return integer(-2);
        if (e->expires_ms == 0) return integer(-1);
        return integer((e->expires_ms - now_ms() + 999) / 1000);
    }
    if (cmd == "DBSIZE") return integer(static_cast<long long>(db.size()));
    if (cmd == "FLUSHALL" || cmd == "FLUSHDB") {
        db.clear();
        return simple("OK");
    }
    if (cmd == "QUIT") {
        quit = true;
        return simple("OK");
    }
    if (cmd == "COMMAND" || cmd == "CONFIG") return "*0\r\n";  // clients' start-up probes
    return error("ERR unknown command '" + a[0] + "'");
}

// Requests are parsed as they arrive (resp.hpp): a client costs what it has sent, within the
// parser's limits (Redis's: 64 KiB lines, 512 MiB arguments, 1024 * 1024 arguments a command).
// Replies are written to the channel's buffer, so the replies to a batch go out together.
promise<void> handle(unix_::sockaddr, io::input_channel ic, io::output_channel oc) {
    resp::parser parser;
    bool quit = false;
    while (!quit) {
        std::string bytes = co_await io::read(ic, 16 * 1024);
        if (bytes.empty()) co_return;  // the client closed
        parser.feed(bytes);
        std::string protocol_error;
        try {
            while (!quit) {
                auto cmd = parser.next();
                if (!cmd) break;
                co_await io::write(oc, execute(*cmd, quit));
            }
        } catch (const resp::protocol_error& e) {
            protocol_error = e.what();
        }
        if (!protocol_error.empty()) {
            co_await io::write(oc, error("ERR " + protocol_error));
            co_await lingering_close(ic, oc);
            co_return;
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    log_failures("kv_server");
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 6400);
    return main::run_program([port]() -> promise<void> {
        auto server = co_await io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", port), handle);
        co_await io::eprintlf("kv_server: listening on {}", server.listening_address().to_string());
        auto stop = wait<void>();
        for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stop.second](int) { wakeup_later(r); });
        co_await stop.first;
        co_await io::shutdown_server(server);
    });
}
