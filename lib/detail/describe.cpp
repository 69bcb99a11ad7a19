// describe_awaited: what a pending cell waits on, for rule 16's error ("the promise can
// never settle"). It follows the edges cancel follows, by calling each node's cancel_fn on a
// walk that is never run (cancel_fns only record what they reach; the one that acts by
// itself, a cross-loop call's, checks `describing`).
#include <lwt/detail/engine.hpp>
#include <lwt/detail/io_op.hpp>
#include <lwt/detail/state.hpp>

#include <fmt/core.h>

#include <string>
#include <unordered_set>

namespace lwt::detail {

namespace {

struct describer {
    std::string out;
    std::unordered_set<const void*> seen;
    std::size_t budget = 200;  // lines: a runaway graph is cut short

    void node(cancelable* c, cell_base* owner, int depth) {
        if (budget == 0) return;
        if (--budget == 0) {
            out += std::string(2 * static_cast<std::size_t>(depth) + 2, ' ') + "...\n";
            return;
        }
        const std::string pad(2 * static_cast<std::size_t>(depth) + 2, ' ');
        if (!seen.insert(c).second) {
            out += pad + "(the same as above)\n";
            return;
        }
        if (c->cancel_fn == &cancel_io_op) {
            auto* op = static_cast<io_op*>(c);
            out += pad + fmt::format("an I/O operation: {} on fd {}\n", op->traits().name, op->fd);
            return;
        }
        auto* s = static_cast<cell_base*>(c);
        using m = cell_base::made_by;
        switch (s->maker) {
            case m::coroutine: {
                // (The frame: the resume and destroy pointers, then the promise.)
                const void* code = *reinterpret_cast<void* const*>(reinterpret_cast<const char*>(s) - 16);
                out += pad + "a coroutine, " + (code != nullptr ? name_of_code(code) : std::string("finished")) +
                       ", awaiting\n";
                break;
            }
            case m::wait:
                out += pad + "a promise of lwt::wait(): only its resolver can settle it\n";
                return;
            case m::task:
                out += pad + "a promise of lwt::task(): only its resolver, or a cancel, can settle it\n";
                return;
            case m::timer:
                out += pad + fmt::format("a sleep, due in {:.3f} s\n", static_cast<double>(static_cast<timer_node*>(s)->deadline - monotonic_ns()) / 1e9);
                return;
            case m::other:
                if (s->cancel_fn == nullptr) {
                    out += pad + "a promise that only the code holding it can settle (not cancelable: not followed)\n";
                    return;
                }
                out += pad + "a promise made by the runtime (a combinator, an operation, a queue), awaiting\n";
                break;
        }
        if (!s->pending()) return;
        cancel_walk w;
        w.describing = true;
        s->cancel_fn(s, w, owner);
        bool any = false;
        for (std::size_t i = 0; i < w.reached_count(); ++i) {
            cancelable* x = w.reached(i);
            if (x == c) continue;  // (a leaf that is the cell itself)
            any = true;
            node(x, s, depth + 1);
        }
        if (!any) out += pad + "  nothing cancel can follow\n";
    }
};

}  // namespace

std::string describe_awaited(cell_base* root) {
    describer d;
    try {
        d.node(root, nullptr, 0);
    } catch (...) {
        d.out += "  (the description was cut short: no memory)\n";
    }
    return d.out;
}

}  // namespace lwt::detail
