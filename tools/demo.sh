#!/usr/bin/env bash
# The demo: the echo server sample, driven for about 10 seconds by the load generator written
# on lwt++ (bench/loadgen), then a table of the results, then memory per idle connection
# (bench/idle_memory.sh): the echo server with borrowed receive buffers and with --plain, and
# the HTTP sample as a request server and with a coroutine per connection.
#   ./run demo [--compare] [--loops N] [--seconds S] [--connections N] [--size B] [--depth D]
#   --loops N   the lwt++ echo server runs N loops (lwt::loops::run, one listener per loop on
#               the same port); with N > 1 the table also has the server at 1 loop, measured
#               in the same run. The load generator needs CPU too: on a 2-core machine two
#               loops cannot show much (see bench/loops and bench/scaling.sh).
#   --compare   also run, in the same run, the project's hand-written baselines of
#               bench/baselines (uring_echo on liburing when it was built, epoll_echo) and
#               lwt++ on its epoll engine; the table adds msgs/s ratios to uring_echo, and to
#               epoll_echo for the epoll rows
# LWT_ENGINE=uring|epoll chooses the engine of lwt++ (default: io_uring when available).
# Needs build/ with bench/loadgen, samples/echo_server and bench/baselines/* (./run demo
# builds just those).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build
compare=0
secs=10
conns=64
size=64
depth=1
n_loops=1
while [ $# -gt 0 ]; do
    case $1 in
    --compare) compare=1 ;;
    --seconds) secs=$2; shift ;;
    --connections) conns=$2; shift ;;
    --size) size=$2; shift ;;
    --depth) depth=$2; shift ;;
    --loops) n_loops=$2; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_port PORT PID: until something listens on PORT; gives up early when PID has exited.
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

results=()
# run NAME COMMAND...: the server is COMMAND PORT; prints the load generator's result line.
run() {
    local name=$1; shift
    local port; port=$(free_port)
    local log; log=$(mktemp)
    "$@" "$port" >/dev/null 2>"$log" &
    local pid=$!
    if ! wait_port "$port" "$pid"; then
        echo "demo: $name did not start" >&2
        sed 's/^/    /' "$log" >&2  # the server's own reason (an old kernel, say)
        kill "$pid" 2>/dev/null
        rm -f "$log"
        return 1
    fi
    echo "==> $name: $conns connections x $size B, depth $depth, ${secs} s" >&2
    local line
    line=$("$B/bench/loadgen" --progress --name "$name" --connections "$conns" --size "$size" --depth "$depth" \
        --duration "$secs" --warmup 1 "$port")
    local rc=$?
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    # The engine column: the server's own (lwt++ servers say which at start), not the
    # load generator's.
    local engine; engine=$(sed -n 's/.*(\([a-z]*\) engine).*/\1/p' "$log" | head -n 1)
    # lwt++ servers end with what each loop did (lwt::main::stats): one line per loop.
    sed -n 's/^echo_server: loop /    loop /p' "$log" >&2
    rm -f "$log"
    [ -n "$engine" ] && line=$(printf '%s' "$line" | sed "s/ engine=[^ ]*/ engine=$engine/")
    [ -n "$line" ] && results+=("$line")
    return $rc
}

if [ "$n_loops" -gt 1 ]; then
    run "lwt++ ($n_loops loops)" "$B/samples/echo_server" --loops "$n_loops" || exit 1
    run "lwt++ (1 loop)" "$B/samples/echo_server" || exit 1
else
    run "lwt++" "$B/samples/echo_server" || exit 1
fi

if [ "$compare" = 1 ]; then
    # Every row is driven by the same load generator (same engine), so the rows differ only
    # in their server.
    BL=$B/bench/baselines
    if [ -x "$BL/uring_echo" ]; then
        run "uring_echo (liburing, by hand)" "$BL/uring_echo"
    else
        echo "demo: no $BL/uring_echo (built only when liburing >= 2.3 is found): no io_uring baseline" >&2
    fi
    if [ -x "$BL/epoll_echo" ]; then
        run "epoll_echo (epoll, by hand)" "$BL/epoll_echo"
    else
        echo "demo: no $BL/epoll_echo: run ./run demo, or ninja -C build bench/baselines/epoll_echo" >&2
    fi
    run "lwt++ (epoll engine)" env LWT_ENGINE=epoll "$B/samples/echo_server"
fi

python3 - "${results[@]}" <<'PY'
import sys
rows = []
for line in sys.argv[1:]:
    kv = {}
    name = line.split(" engine=")[0].removeprefix("name=")
    for part in line.split(" engine=")[1].split(" "):
        k, _, v = part.partition("=")
        kv[k] = v
    kv["engine"] = line.split(" engine=")[1].split(" ")[0]
    rows.append((name, kv))
def rate(kv):
    return float(kv["msgs_per_s"])
def is_epoll(name, kv):
    return name.startswith("epoll_echo") or (name.startswith("lwt++") and kv["engine"] == "epoll")
base = next((rate(kv) for n, kv in rows if n.startswith("uring_echo")), None)
ebase = next((rate(kv) for n, kv in rows if n.startswith("epoll_echo")), None)
if ebase is not None and not any(is_epoll(n, kv) and not n.startswith("epoll_echo") for n, kv in rows):
    ebase = None  # nothing to compare with it
print()
print(f"| server | lwt++ engine | msgs/s | MB/s | p50 µs | p99 µs | errors |" + (" vs uring_echo |" if base else "")
      + (" vs epoll_echo |" if ebase else ""))
print("|---|---|---|---|---|---|---|" + ("---|" if base else "") + ("---|" if ebase else ""))
for name, kv in rows:
    eng = kv["engine"] if name.startswith("lwt++") else "—"
    ratio = f" {rate(kv) / base:.2f}x |" if base else ""
    if ebase:
        ratio += f" {rate(kv) / ebase:.2f}x |" if is_epoll(name, kv) else " — |"
    print(f"| {name} | {eng} | {rate(kv):,.0f} | {kv['MBps']} | {kv['p50_us']} | {kv['p99_us']} | {kv['errors']} |{ratio}")
PY

# Buffers belong to data in flight: the same server's memory per idle connection, with the
# loop's borrowed receive buffers (the default) and with a buffer per connection (--plain);
# and the HTTP sample's keep-alive connections, idle between requests with no coroutine
# (io::establish_request_server, the default) and in a coroutine per connection.
if [ -x "$B/bench/idle_clients" ]; then
    e=${LWT_ENGINE:-uring}
    [ "$e" = epoll ] || e=uring
    echo
    echo "Memory per idle connection (bench/idle_memory.sh, 1,000 connections, $e engine):"
    BUILD_DIR=$B "$ROOT/bench/idle_memory.sh" -n 1000 "echo_$e" "echo_${e}_plain" "http_$e" "http_${e}_conn"
fi
