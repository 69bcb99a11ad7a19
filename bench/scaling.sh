#!/usr/bin/env bash
# scaling.sh: lwt++ with a loop per core (lwt::loops, issue 13), every figure beside an anchor
# measured in the same run. Prints Markdown tables:
#   (a) post round trip between two loops, beside two plain threads ping-ponging through two
#       eventfds and through a spinning atomic (ns, and instructions under callgrind), for
#       io_uring with MSG_RING wake-ups, io_uring with eventfd wake-ups, and epoll; and a
#       window of 64 posts in flight;
#   (b) posts/s from L-1 loops to loop 0 (L = 1: loop 0 to itself), and at twice the CPUs;
#   (c) samples/echo_server --loops L driven by bench/loadgen, samples/http_server --loops L
#       driven by wrk: msgs/s, req/s and the server's CPU per message;
#   (d) a CPU-bound server (bench/loops hash: 64 KiB hashed per 64-byte request) at L loops,
#       driven by bench/loadgen: req/s, median of the passes, and the ratio to 1 loop;
# for L = 1, 2, 4, ... up to the number of CPUs.
#
#   bench/scaling.sh [--max-loops N] [--seconds S] [--passes P] [--parts abcd] [--no-callgrind]
#
# Defaults: N = the CPUs this process may use (nproc), S = 5 (seconds per server run), P = 3
# (the median is reported), all four parts. BUILD=dir chooses the build (default build). Needs, from a fresh
# clone:  meson setup build && ninja -C build bench/loops bench/loadgen samples/echo_server samples/http_server
# Optional: wrk (HTTP rows; apt-get install wrk), valgrind (instruction counts).
# The load generators run unpinned beside the servers: on a machine with few cores they take
# a core from the server, which the tables say nothing about -- read the CPU per message.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
max_loops=$(nproc) seconds=5 passes=3 callgrind=1 parts=abcd
while [ $# -gt 0 ]; do
    case $1 in
    --max-loops) max_loops=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --passes) passes=$2; shift 2 ;;
    --parts) parts=$2; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
LOOPS=$B/bench/loops LOADGEN=$B/bench/loadgen ECHO=$B/samples/echo_server HTTP=$B/samples/http_server
for exe in "$LOOPS" "$LOADGEN" "$ECHO" "$HTTP"; do
    [ -x "$exe" ] || { echo "scaling.sh: no $exe (ninja -C $B ${exe#"$B"/})" >&2; exit 1; }
done
if [ "$callgrind" = 1 ] && ! command -v valgrind >/dev/null; then
    echo "(instruction counts skipped: no valgrind)" >&2
    callgrind=0
fi
have_wrk=1
command -v wrk >/dev/null || { have_wrk=0; echo "(HTTP rows skipped: no wrk; apt-get install wrk)" >&2; }

out=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$out"
}
trap cleanup EXIT

loop_counts=()
for ((l = 1; l < max_loops; l *= 2)); do loop_counts+=("$l"); done
loop_counts+=("$max_loops")

# kv LINE KEY: the value of KEY=... in a result line.
kv() { sed -n "s/^\(.* \)\{0,1\}$2=\([^ ]*\).*/\2/p" <<<"$1"; }
# median: the median of the numbers on stdin (the lower middle one for an even count).
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "nan" || b == "nan") print "—"; else printf "%.2fx", a / b }'; }
# num X: X rounded, with thousands separators ("—" when missing).
num() {
    awk -v v="$1" 'BEGIN {
        if (v == "" || v == "nan") { print "—"; exit }
        s = sprintf("%.0f", v); t = ""
        while (length(s) > 3) { t = "," substr(s, length(s) - 2) t; s = substr(s, 1, length(s) - 3) }
        print s t }'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }
# cpu_ticks PID: user + system time of a process (all its threads), in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
note() { echo "  $*" >&2; }

# The three ways loops wake each other.
variants=("io_uring, MSG_RING wake-ups|LWT_ENGINE=uring"
          "io_uring, eventfd wake-ups|LWT_ENGINE=uring LWT_URING_NO_MSG_RING=1"
          "epoll (eventfd wake-ups)|LWT_ENGINE=epoll")

echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr);" \
     "loops up to $max_loops, $seconds s per server run, median of $passes passes."
echo

# part X: whether part X (a, b, c or d) is to be run.
part() { [[ $parts == *$1* ]]; }

# ---- (a) round trips ----
if part a; then
echo "### (a) Post round trip between two loops, one in flight; a window of 64 in flight"
echo
echo "Pinned: loop 0 and the pinging thread on the first CPU, loop 1 and the answering thread on"
echo "the second. Unpinned: the scheduler places them (possibly on one CPU)."
echo
echo "| engine | pinned | lwt++ ns | eventfd ping-pong ns | spin handoff ns | lwt++ / eventfd | lwt++ / spin | window of 64: posts/s | ns per post |"
echo "|---|---|---|---|---|---|---|---|---|"
col() { while read -r l; do kv "$l" "$2"; done <"$1" | median; }
for v in "${variants[@]}"; do
    name=${v%%|*} envs=${v#*|}
    for pin in --pin --no-pin; do
        : >"$out/rt"
        : >"$out/win"
        for _ in $(seq "$passes"); do
            line=$(env $envs "$LOOPS" roundtrip --n 50000 $pin)
            note "$line"
            echo "$line" >>"$out/rt"
            line=$(env $envs "$LOOPS" window $pin)
            note "$line"
            echo "$line" >>"$out/win"
        done
        lwt=$(col "$out/rt" lwt_ns) efd=$(col "$out/rt" eventfd_ns) spin=$(col "$out/rt" spin_ns)
        wps=$(col "$out/win" posts_per_s) wns=$(col "$out/win" ns_per_post)
        wake=$(kv "$(head -n 1 "$out/rt")" wake)
        [ $pin = --pin ] && p=yes || p=no
        echo "| $name (wake=$wake) | $p | $(num "$lwt") | $(num "$efd") | $(num "$spin") | $(ratio "$lwt" "$efd") | $(ratio "$lwt" "$spin") | $(num "$wps") | $wns |"
    done
done
echo

fi

if part a && [ "$callgrind" = 1 ]; then
    # ir ENV ONLY N: total instructions of every thread of `loops roundtrip --only ONLY --n N`.
    ir() {
        local f=$out/cg.$RANDOM
        env $1 timeout -s KILL 600 valgrind --tool=callgrind --separate-threads=no --callgrind-out-file="$f" \
            "$LOOPS" roundtrip --only "$2" --n "$3" --warmup 0 --no-pin >/dev/null 2>"$f.log" || return 1
        sed -n 's/^summary: //p' "$f" | head -n 1
    }
    n1=2000 n2=12000
    echo "Instructions per round trip (callgrind, all threads, user space only; (Ir(N=$n2) - Ir(N=$n1)) / $((n2 - n1)))."
    echo "Under valgrind the threads take turns, so only the count means anything. The io_uring"
    echo "engine cannot be counted: valgrind 3.19 keeps its thread lock across io_uring_enter, so"
    echo "the loop blocked in it waits for the other, which waits for the lock."
    echo
    echo "| round trip | Ir | vs eventfd ping-pong |"
    echo "|---|---|---|"
    a=$(ir "" eventfd $n1) b=$(ir "" eventfd $n2)
    efd_ir=$(( (b - a) / (n2 - n1) ))
    a=$(ir LWT_ENGINE=epoll lwt $n1) b=$(ir LWT_ENGINE=epoll lwt $n2)
    ep_ir=$(( (b - a) / (n2 - n1) ))
    echo "| eventfd ping-pong, two threads | $(num "$efd_ir") | 1.00x |"
    echo "| lwt++ post, epoll (eventfd wake-ups) | $(num "$ep_ir") | $(ratio "$ep_ir" "$efd_ir") |"
    echo
fi

# ---- (b) fan-in ----
if part b; then
fanin_counts=("${loop_counts[@]}" $((2 * max_loops)))
echo "### (b) Posts/s from L-1 loops to loop 0 (64 in flight per sender; L = 1: loop 0 to itself)"
echo
printf '| engine |'; for l in "${fanin_counts[@]}"; do printf ' L = %s |' "$l"; done; echo
printf '|---|'; for _ in "${fanin_counts[@]}"; do printf -- '---|'; done; echo
for v in "${variants[@]}"; do
    name=${v%%|*} envs=${v#*|}
    printf '| %s |' "$name"
    for l in "${fanin_counts[@]}"; do
        for _ in $(seq "$passes"); do
            line=$(env $envs "$LOOPS" fanin --loops "$l")
            note "$line"
            kv "$line" posts_per_s
        done | median >"$out/med"
        printf ' %s |' "$(num "$(cat "$out/med")")"
    done
    echo
done
echo "(L = $((2 * max_loops)): twice as many loops as CPUs, pinned two to a CPU.)"
echo
fi

# ---- servers ----
# start_server PORT COMMAND...: starts it in the background (server_pid) and waits until it listens.
start_server() {
    local port=$1
    shift
    "$@" 2>>"$out/server.log" &
    server_pid=$!
    for _ in $(seq 100); do
        listening "$port" && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
    done
    echo "scaling.sh: the server did not start: $*" >&2
    cat "$out/server.log" >&2
    exit 1
}
stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
# loadgen_run PORT ARGS...: runs the load generator against the running server; prints
# "MSGS_PER_S CPU_US_PER_MSG" (the server's CPU from the end of the warm-up to the end).
loadgen_run() {
    local port=$1
    shift
    "$LOADGEN" --quiet --warmup 1 --duration "$seconds" "$@" "$port" >"$out/lg" &
    local lg=$!
    sleep 1
    local t0
    t0=$(cpu_ticks "$server_pid")
    wait "$lg" || { echo "scaling.sh: loadgen failed: $(cat "$out/lg")" >&2; exit 1; }
    local t1 line
    t1=$(cpu_ticks "$server_pid")
    line=$(cat "$out/lg")
    note "$line"
    awk -v r="$(kv "$line" msgs_per_s)" -v m="$(kv "$line" msgs)" -v d=$((t1 - t0)) -v hz="$hz" \
        'BEGIN { printf "%s %.2f\n", r, (m > 0 ? d / hz * 1e6 / m : 0) }'
}

if part c; then
echo "### (c) Echo and HTTP servers at L loops (loopback, 64 connections, unpinned)"
echo
echo "| loops | echo msgs/s | echo server CPU µs/msg | HTTP req/s | HTTP server CPU µs/req |"
echo "|---|---|---|---|---|"
for l in "${loop_counts[@]}"; do
    port=$(free_port)
    start_server "$port" "$ECHO" --loops "$l" "$port"
    : >"$out/echo"
    for _ in $(seq "$passes"); do loadgen_run "$port" --connections 64 --size 64 --depth 1 >>"$out/echo"; done
    stop_server
    echo_rate=$(awk '{ print $1 }' "$out/echo" | median) echo_cpu=$(awk '{ print $2 }' "$out/echo" | median)
    http_rate=— http_cpu=—
    if [ "$have_wrk" = 1 ]; then
        port=$(free_port)
        start_server "$port" "$HTTP" --loops "$l" "$port"
        : >"$out/http"
        for _ in $(seq "$passes"); do
            t0=$(cpu_ticks "$server_pid")
            wrk -t1 -c64 -d"${seconds}s" "http://127.0.0.1:$port/" >"$out/wrk"
            t1=$(cpu_ticks "$server_pid")
            reqs=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$out/wrk")
            rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out/wrk")
            note "wrk loops=$l requests=$reqs req_per_s=$rate"
            awk -v r="$rate" -v m="$reqs" -v d=$((t1 - t0)) -v hz="$hz" \
                'BEGIN { printf "%s %.2f\n", r, (m > 0 ? d / hz * 1e6 / m : 0) }' >>"$out/http"
        done
        stop_server
        http_rate=$(num "$(awk '{ print $1 }' "$out/http" | median)") http_cpu=$(awk '{ print $2 }' "$out/http" | median)
    fi
    echo "| $l | $(num "$echo_rate") | $echo_cpu | $http_rate | $http_cpu |"
done
echo
fi


if part d; then
echo "### (d) CPU-bound server: 64 KiB hashed per 64-byte request, L loops pinned (bench/loops hash)"
echo
echo "| loops | req/s (median) | passes | server CPU µs/req | server cores busy | vs 1 loop |"
echo "|---|---|---|---|---|---|"
base=
for l in "${loop_counts[@]}"; do
    port=$(free_port)
    start_server "$port" "$LOOPS" hash --loops "$l" "$port"
    : >"$out/hash"
    for _ in $(seq "$passes"); do loadgen_run "$port" --connections 16 --size 64 --depth 1 >>"$out/hash"; done
    stop_server
    rate=$(awk '{ print $1 }' "$out/hash" | median) cpu=$(awk '{ print $2 }' "$out/hash" | median)
    all=$(awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }' "$out/hash")
    [ -n "$base" ] || base=$rate
    # CPUs the server kept busy (req/s x CPU per request): below L, the machine lent it less.
    busy=$(awk -v r="$rate" -v c="$cpu" 'BEGIN { printf "%.2f", r * c / 1e6 }')
    echo "| $l | $(num "$rate") | $all | $cpu | $busy | $(ratio "$rate" "$base") |"
done
fi
