// What pending cells wait on, as trees: rule 16's error ("the promise can never settle",
// describe_awaited) and lwt::main::dump (dump_suspended). Both follow the edges cancel
// follows, by calling each node's cancel_fn on a walk that is never run (cancel_fns only
// record what they reach; the one that acts by itself, a cross-loop call's, checks
// `describing`).
//
// A tree is built first as lines whose code addresses are still unresolved, then every
// address is resolved at once (symbolize: one addr2line per module), then it is printed.
// Recorded coroutines (trace.hpp) add their await point and how long they have waited.
#include <lwt/detail/engine.hpp>
#include <lwt/detail/io_op.hpp>
#include <lwt/detail/state.hpp>
#include <lwt/detail/trace.hpp>

#include <fmt/core.h>

#include <string>
#include <unordered_map>
#include <unordered_set>

namespace lwt::detail {

namespace {

struct line {
    int depth;
    std::string text;            // for a coroutine: what follows its name and await point
    const void* code = nullptr;  // a coroutine's resume function
    const recorded_coroutine* rec = nullptr;
    bool coroutine = false;
};

// Calls f on each node the pending cell `s` waits on: what its cancel_fn reaches on a walk
// that is never run (a leaf that is the cell itself is not an edge).
template <class F>
void each_edge(cell_base* s, cell_base* owner, F f) {
    cancel_walk w;
    w.describing = true;
    s->cancel_fn(s, w, owner);
    for (std::size_t i = 0; i < w.reached_count(); ++i)
        if (cancelable* x = w.reached(i); x != s) f(x);
}

struct describer {
    std::vector<line> lines;
    std::unordered_set<const void*> seen;
    std::unordered_map<const cell_base*, const recorded_coroutine*> recorded;
    std::size_t budget = 400;  // lines: a runaway graph is cut short
    std::int64_t now = monotonic_ns();

    void add(int depth, std::string text) { lines.push_back({depth, std::move(text)}); }

    void node(cancelable* c, cell_base* owner, int depth) {
        if (budget == 0) return;
        if (--budget == 0) {
            add(depth, "...");
            return;
        }
        if (!seen.insert(c).second) {
            add(depth, "(the same as above)");
            return;
        }
        if (c->cancel_fn == &cancel_io_op) {
            auto* op = static_cast<io_op*>(c);
            add(depth, fmt::format("an I/O operation: {} on fd {}", op->traits().name, op->fd));
            return;
        }
        auto* s = static_cast<cell_base*>(c);
        using m = cell_base::made_by;
        switch (s->maker) {
            case m::coroutine: {
                line l{depth, "", code_of(s)};
                l.coroutine = true;
                if (auto it = recorded.find(s); it != recorded.end()) {
                    l.rec = it->second;
                    if (l.rec->foreign) {
                        l.text = "awaiting something that is not an lwt promise or operation";
                        lines.push_back(std::move(l));
                        return;
                    }
                }
                l.text = "awaiting";
                lines.push_back(std::move(l));
                break;
            }
            case m::wait:
                add(depth, "a promise of lwt::wait(): only its resolver can settle it");
                return;
            case m::task:
                add(depth, "a promise of lwt::task(): only its resolver, or a cancel, can settle it");
                return;
            case m::timer:
                add(depth, fmt::format("a sleep, due in {:.3f} s",
                                       static_cast<double>(static_cast<timer_node*>(s)->deadline - now) / 1e9));
                return;
            case m::queue:
                add(depth, "a place in a queue (a mutex, condition, mvar, semaphore, pool or stream): "
                           "the unlock, signal, put or push that serves it settles it");
                return;
            case m::combinator:
                add(depth, "a combinator (join, all, both, choose, pick, npick...), awaiting");
                break;
            case m::operation:
                add(depth, "the promise of an I/O operation, awaiting");
                break;
            case m::other:
                if (s->cancel_fn == nullptr) {
                    add(depth, "a promise that only the code holding it can settle (not cancelable: not followed)");
                    return;
                }
                add(depth, "a promise made by the runtime (a combinator, an operation, a queue), awaiting");
                break;
        }
        if (!s->pending()) return;
        bool any = false;
        each_edge(s, owner, [&](cancelable* x) {
            any = true;
            node(x, s, depth + 1);
        });
        if (!any) add(depth + 1, "nothing cancel can follow");
    }

    // The cells a tree from `c` reaches, without describing them (dump_suspended's roots).
    void reach(cancelable* c, cell_base* owner, std::unordered_set<const void*>& reached) {
        std::vector<std::pair<cancelable*, cell_base*>> todo{{c, owner}};
        while (!todo.empty() && reached.size() < 100000) {
            auto [x, o] = todo.back();
            todo.pop_back();
            if (x->cancel_fn == &cancel_io_op || x->cancel_fn == nullptr) continue;
            auto* s = static_cast<cell_base*>(x);
            if (!s->pending()) continue;
            each_edge(s, o, [&](cancelable* y) {
                if (reached.insert(y).second) todo.push_back({y, s});
            });
        }
    }

    std::string render() {
        std::vector<const void*> code, where;
        for (const line& l : lines) {
            if (!l.coroutine) continue;
            code.push_back(l.code);
            where.push_back(l.rec != nullptr ? l.rec->where : nullptr);
        }
        std::vector<code_place> names, points;
        try {
            names = symbolize(code, false);
            points = symbolize(where, true);
        } catch (...) {
        }
        std::string out;
        std::size_t k = 0;
        for (const line& l : lines) {
            out.append(2 * static_cast<std::size_t>(l.depth) + 2, ' ');
            if (l.coroutine) {
                const bool named = k < names.size();
                out += "a coroutine, ";
                out += l.code == nullptr ? std::string("finished") : named ? names[k].function : name_of_code(l.code);
                if (l.rec != nullptr && l.rec->where != nullptr && k < points.size()) {
                    const code_place& p = points[k];
                    if (!p.file.empty())
                        out += fmt::format(", at {}:{}", p.file, p.line);
                    else
                        out += fmt::format(", at {}", p.function);
                    out += fmt::format(", for {:.3f} s", static_cast<double>(now - l.rec->since_ns) / 1e9);
                }
                out += ", ";
                ++k;
            }
            out += l.text;
            out += '\n';
        }
        return out;
    }
};

}  // namespace

std::string describe_awaited(cell_base* root) {
    describer d;
    try {
        const auto recorded = suspended_coroutines();
        for (const auto& r : recorded) d.recorded.emplace(r.cell, &r);
        d.node(root, nullptr, 0);
        return d.render();
    } catch (...) {
        return "  (the description was cut short: no memory)\n";
    }
}

std::string dump_suspended() {
    describer d;
    try {
        const auto recorded = suspended_coroutines();
        for (const auto& r : recorded) d.recorded.emplace(r.cell, &r);
        // The roots: suspended coroutines no other one awaits (through the edges cancel
        // follows); each is printed with what it awaits beneath it.
        std::unordered_set<const void*> reached;
        for (const auto& r : recorded) d.reach(r.cell, nullptr, reached);
        for (const auto& r : recorded)
            if (reached.count(r.cell) == 0) d.node(r.cell, nullptr, 0);
        // A cycle of coroutines awaiting each other has no root: print what is left.
        for (const auto& r : recorded)
            if (d.seen.count(r.cell) == 0) d.node(r.cell, nullptr, 0);
        return d.render();
    } catch (...) {
        return "  (the dump was cut short: no memory)\n";
    }
}

}  // namespace lwt::detail
