#!/usr/bin/env bash
# idle_memory.sh: memory per idle connection. Each server gets N connections (default 5000);
# each sends one request, reads the whole answer, then stays open and idle. The figure is the
# growth of the server's resident memory (VmRSS) from before the connections to when all are
# idle, divided by N. Kernel memory (socket buffers) is not in it, for any server alike.
#   bench/idle_memory.sh [-n N] [-p] [NAME ...] [NAME=COMMAND ...]
# -p: each HTTP client then sends the first half of a next request and stops there (slow
#     clients mid-request: the server holds their unread bytes).
# Built-in NAMEs (default: all that are built or installed):
#   echo_uring, echo_epoll            build/samples/echo_server (borrowed receive buffers)
#   echo_uring_plain, echo_epoll_plain   ... --plain (a buffer of each connection's own)
#   http_uring, http_epoll            build/samples/http_server (keep-alive; a request server)
#   http_uring_conn, http_epoll_conn     ... --per-connection (a coroutine per connection)
#   http_uring_plain, http_epoll_plain   ... --per-connection --plain (and channels with
#                                     buffers of their own: the way before issue 15)
#   uring_echo, epoll_echo            build/bench/baselines (hand-written C)
#   node_echo, node_http              bench/baselines/*.js (Node's net and http modules)
# NAME=COMMAND adds a server: COMMAND PORT serves on 127.0.0.1:PORT; a NAME starting with
# "http" is sent HTTP requests, any other echo lines. BUILD_DIR chooses the build (build).
set -u
cd "$(dirname "$0")/.."
# shellcheck source=bench/servers.sh
. bench/servers.sh
B=${BUILD_DIR:-build}
N=5000
CLIENTS=$B/bench/idle_clients
[ -x "$CLIENTS" ] || { echo "idle_memory: no $CLIENTS (ninja -C $B bench/idle_clients)" >&2; exit 2; }

declare -A CMD=(
    [echo_uring]="env LWT_ENGINE=uring $B/samples/echo_server"
    [echo_epoll]="env LWT_ENGINE=epoll $B/samples/echo_server"
    [echo_uring_plain]="env LWT_ENGINE=uring $B/samples/echo_server --plain"
    [echo_epoll_plain]="env LWT_ENGINE=epoll $B/samples/echo_server --plain"
    [http_uring]="env LWT_ENGINE=uring $B/samples/http_server"
    [http_epoll]="env LWT_ENGINE=epoll $B/samples/http_server"
    [http_uring_conn]="env LWT_ENGINE=uring $B/samples/http_server --per-connection"
    [http_epoll_conn]="env LWT_ENGINE=epoll $B/samples/http_server --per-connection"
    [http_uring_plain]="env LWT_ENGINE=uring $B/samples/http_server --per-connection --plain"
    [http_epoll_plain]="env LWT_ENGINE=epoll $B/samples/http_server --per-connection --plain"
    [uring_echo]="$B/bench/baselines/uring_echo"
    [epoll_echo]="$B/bench/baselines/epoll_echo"
    [node_echo]="node bench/baselines/node_echo.js"
    [node_http]="node bench/baselines/node_http.js"
)
ORDER=(echo_uring echo_epoll echo_uring_plain echo_epoll_plain uring_echo epoll_echo node_echo
       http_uring http_epoll http_uring_conn http_epoll_conn http_uring_plain http_epoll_plain node_http)
names=()
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -n) N=$2; shift ;;
    -p) PARTIAL=_partial ;;
    *=*) CMD[${1%%=*}]=${1#*=}; names+=("${1%%=*}") ;;
    *) names+=("$1") ;;
    esac
    shift
done
if [ ${#names[@]} -eq 0 ]; then
    for n in "${ORDER[@]}"; do available "$n" && names+=("$n"); done
fi
# Room for N connections on both sides (the clients raise their own limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" -lt $((N + 64)) ]; then
    echo "idle_memory: the descriptor limit ($(ulimit -n)) is below $((N + 64))" >&2
    exit 2
fi

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
port=$(first_port)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%-18s %10s %12s %12s\n' server connections 'RSS growth' 'B per conn'
status=0
for name in "${names[@]}"; do
    available "$name" || { echo "idle_memory: $name is not built or installed" >&2; status=1; continue; }
    port=$((port + 1))
    mode=echo
    case $name in http*|node_http) mode=http${PARTIAL:-} ;; esac
    # shellcheck disable=SC2086  # (the command is words)
    ${CMD[$name]} "$port" 2>"$log" &
    spid=$!  # (the server itself: env execs it)
    wait_listening "$port"
    # One connection first, so that what every server makes once (its engine, its pools,
    # a first slab) is in the baseline, not in the figure.
    "$CLIENTS" "$port" 1 "${mode%_partial}" < /dev/null > /dev/null || { echo "idle_memory: $name does not answer: $(tail -1 "$log")" >&2; kill "$spid"; wait "$spid" 2>/dev/null; status=1; continue; }
    sleep 0.3
    before=$(rss_kb "$spid")
    coproc CL { "$CLIENTS" "$port" "$N" "$mode"; }
    read -r ready _ <&"${CL[0]}"
    sleep 0.5
    after=$(rss_kb "$spid")
    exec {CL[1]}>&-
    wait "$CL_PID" 2>/dev/null
    kill "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    if [ "$ready" != ready ]; then
        echo "idle_memory: $name: the clients did not all get their answers" >&2
        status=1
        continue
    fi
    printf '%-18s %10d %9d kB %12d\n' "$name" "$N" $((after - before)) $(((after - before) * 1024 / N))
done
exit $status
