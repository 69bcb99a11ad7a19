// chat_server: a line-based chat room. Every line a client sends goes to all the others;
// "/nick NAME" renames, "/who" lists, "/quit" leaves.
//
//   chat_server PORT
//   try: build/samples/chat_server 7000 &  then, in two terminals:  nc 127.0.0.1 7000
#include <lwt/lwt.hpp>

#include "log_failures.hpp"

#include <csignal>
#include <cstdlib>
#include <map>
#include <string>

using namespace lwt;

namespace {

struct member {
    std::string name;
    io::output_channel oc;
};
std::map<int, member> room;  // by connection number
int next_id = 1;

// Writes to everyone but `except`; a member whose connection fails is dropped by its own loop.
void broadcast(const std::string& line, int except) {
    for (auto& entry : room)
        if (entry.first != except) {
            io::output_channel oc = entry.second.oc;
            dont_wait([oc, line] { return io::write_line(oc, line); }, [](std::exception_ptr) {});
        }
}

promise<void> handle(unix_::sockaddr peer, io::input_channel ic, io::output_channel oc) {
    int id = next_id++;
    room.emplace(id, member{"guest" + std::to_string(id), oc});
    struct leave {
        int id;
        ~leave() {
            auto it = room.find(id);
            if (it == room.end()) return;
            std::string name = it->second.name;
            room.erase(it);
            broadcast("* " + name + " left", 0);
        }
    } on_exit{id};
    co_await io::write_line(oc, "Welcome, " + room.at(id).name + " (" + peer.to_string() + "). /nick NAME, /who, /quit");
    broadcast("* " + room.at(id).name + " joined", id);
    while (auto line = co_await io::read_line_opt(ic)) {
        std::string& name = room.at(id).name;
        if (line->rfind("/nick ", 0) == 0 && line->size() > 6) {
            std::string old = name;
            name = line->substr(6);
            broadcast("* " + old + " is now " + name, 0);
        } else if (*line == "/who") {
            std::string who;
            for (auto& entry : room) who += (who.empty() ? "" : ", ") + entry.second.name;
            co_await io::write_line(oc, "* here: " + who);
        } else if (*line == "/quit") {
            break;
        } else if (!line->empty()) {
            broadcast("<" + name + "> " + *line, id);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    log_failures("chat_server");
    auto port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 7000);
    return main::run_program([port]() -> promise<void> {
        auto server = co_await io::establish_server_with_client_address(unix_::sockaddr::inet("127.0.0.1", port), handle);
        co_await io::eprintlf("chat_server: listening on {}", server.listening_address().to_string());
        auto stop = wait<void>();
        for (int sig : {SIGINT, SIGTERM}) unix_::on_signal(sig, [r = stop.second](int) { wakeup_later(r); });
        co_await stop.first;
        co_await io::shutdown_server(server);
    });
}
