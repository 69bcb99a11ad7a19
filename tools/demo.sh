#!/usr/bin/env bash
# The demo: the echo server sample, driven for about 10 seconds by the load generator written
# on lwt++ (bench/loadgen), then a table of the results.
#   ./run demo [--compare] [--seconds S] [--connections N] [--size B] [--depth D]
#   --compare   also run the hand-written anchor servers of ../shared/bench (liburing, epoll,
#               Asio when built) in the same run, and show the ratios
# LWT_ENGINE=uring|epoll chooses the engine of lwt++ (default: io_uring when available).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build
compare=0
secs=10
conns=64
size=64
depth=1
while [ $# -gt 0 ]; do
    case $1 in
    --compare) compare=1 ;;
    --seconds) secs=$2; shift ;;
    --connections) conns=$2; shift ;;
    --size) size=$2; shift ;;
    --depth) depth=$2; shift ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "demo: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
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
    if ! wait_port "$port"; then
        echo "demo: $name did not start" >&2
        kill "$pid" 2>/dev/null
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
    rm -f "$log"
    [ -n "$engine" ] && line=$(printf '%s' "$line" | sed "s/ engine=[^ ]*/ engine=$engine/")
    [ -n "$line" ] && results+=("$line")
    return $rc
}

run "lwt++" "$B/samples/echo_server" || exit 1

if [ "$compare" = 1 ]; then
    SB=$ROOT/../shared/bench
    if [ ! -x "$SB/build.sh" ]; then
        echo "demo: no ../shared/bench here: --compare needs the anchor servers" >&2
    else
        A=${ANCHORS_BUILD:-/tmp/anchors-build}
        [ -x "$A/uring_echo" ] || "$SB/build.sh" >&2 || "$SB/build.sh" --deps >&2
        [ -x "$A/uring_echo" ] && run "uring_echo (liburing, by hand)" "$A/uring_echo"
        [ -x "$A/epoll_echo" ] && run "epoll_echo (epoll, by hand)" "$A/epoll_echo"
        [ -x "$A/asio_echo_epoll" ] && run "Asio (epoll)" "$A/asio_echo_epoll"
        LWT_ENGINE=epoll run "lwt++ (epoll engine)" env LWT_ENGINE=epoll "$B/samples/echo_server"
    fi
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
base = next((float(kv["msgs_per_s"]) for n, kv in rows if n.startswith("uring_echo")), None)
print()
print(f"| server | lwt++ engine | msgs/s | MB/s | p50 µs | p99 µs | errors |" + (" vs uring_echo |" if base else ""))
print("|---|---|---|---|---|---|---|" + ("---|" if base else ""))
for name, kv in rows:
    eng = kv["engine"] if name.startswith("lwt++") else "—"
    ratio = f" {float(kv['msgs_per_s']) / base:.2f}x |" if base else ""
    print(f"| {name} | {eng} | {float(kv['msgs_per_s']):,.0f} | {kv['MBps']} | {kv['p50_us']} | {kv['p99_us']} | {kv['errors']} |{ratio}")
PY
