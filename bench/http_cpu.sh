#!/usr/bin/env bash
# http_cpu.sh: an HTTP server's CPU per keep-alive request. wrk (-t1 -c64) drives GET / for a
# few seconds; the figure is the server's user+system CPU time over the requests served. On a
# small machine wrk, not the server, sets the request rate: compare CPU per request, not
# requests per second. The server runs on CPU 0 and wrk on CPU 1 (taskset).
#   bench/http_cpu.sh [-p PASSES] [-d SECONDS] [NAME ...] [NAME=COMMAND ...]
# Built-in NAMEs (default: all that are built or installed):
#   http_uring, http_epoll          build/samples/http_server (a request server, borrowed buffers)
#   http_uring_conn                 ... --per-connection (a coroutine per connection)
#   http_uring_plain                ... --per-connection --plain (the way before issue 15)
#   node_http                       bench/baselines/node_http.js (Node's http module)
# NAME=COMMAND adds a server: COMMAND PORT serves HTTP on 127.0.0.1:PORT. Prints each pass
# and the median. BUILD_DIR chooses the build (build).
set -u
cd "$(dirname "$0")/.."
# shellcheck source=bench/servers.sh
. bench/servers.sh
B=${BUILD_DIR:-build}
PASSES=3
SECS=5
command -v wrk >/dev/null || { echo "http_cpu: wrk is missing (apt-get install wrk)" >&2; exit 2; }
declare -A CMD=(
    [http_uring]="env LWT_ENGINE=uring $B/samples/http_server"
    [http_epoll]="env LWT_ENGINE=epoll $B/samples/http_server"
    [http_uring_conn]="env LWT_ENGINE=uring $B/samples/http_server --per-connection"
    [http_uring_plain]="env LWT_ENGINE=uring $B/samples/http_server --per-connection --plain"
    [node_http]="node bench/baselines/node_http.js"
)
ORDER=(http_uring http_uring_conn http_uring_plain http_epoll node_http)
names=()
while [ $# -gt 0 ]; do
    case $1 in
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -p) PASSES=$2; shift ;;
    -d) SECS=$2; shift ;;
    *=*) CMD[${1%%=*}]=${1#*=}; names+=("${1%%=*}") ;;
    *) names+=("$1") ;;
    esac
    shift
done
[ ${#names[@]} -eq 0 ] && for n in "${ORDER[@]}"; do available "$n" && names+=("$n"); done
port=$(first_port)
hz=$(getconf CLK_TCK)

# One pass: prints the µs of CPU per request, or nothing.
pass() {
    local name=$1
    port=$((port + 1))
    # shellcheck disable=SC2086  # (the command is words)
    taskset -c 0 ${CMD[$name]} "$port" 2>/dev/null &
    local pid=$!
    wait_listening "$port"
    local t0 t1 out req
    t0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)
    out=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$port/" 2>&1)
    t1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    req=$(echo "$out" | awk '/requests in/ { print $1 }')
    [ -n "$t0" ] && [ -n "$t1" ] && [ -n "$req" ] && [ "$req" -gt 0 ] &&
        awk -v c=$((t1 - t0)) -v hz="$hz" -v r="$req" 'BEGIN { printf "%.2f\n", c * 1e6 / hz / r }'
}

status=0
for name in "${names[@]}"; do
    available "$name" || { echo "http_cpu: $name is not built or installed" >&2; status=1; continue; }
    figures=()
    for _ in $(seq "$PASSES"); do
        f=$(pass "$name")
        [ -n "$f" ] && figures+=("$f")
    done
    if [ ${#figures[@]} -eq 0 ]; then
        echo "http_cpu: $name: no result" >&2
        status=1
        continue
    fi
    median=$(printf '%s\n' "${figures[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
    printf '%-18s us_per_request=%s  (passes: %s)\n' "$name" "$median" "${figures[*]}"
done
exit $status
