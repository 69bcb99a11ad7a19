#!/usr/bin/env bash
# echo_ir.sh: user-space instructions per echoed message, counted by callgrind, for echo servers
# on one connection of 64 B ping-pong -- one message in flight, so nothing batches and every
# message takes the server's whole path. Unlike msgs/s, the count does not move with the load
# of the machine.
#   tools/echo_ir.sh [NAME ...] [NAME=COMMAND ...]
# Built-in NAMEs (default: all that are built):
#   lwtpp        build/samples/echo_server (lwt++ on its default engine)
#   lwtpp_epoll  LWT_ENGINE=epoll build/samples/echo_server
#   uring_echo   build/bench/baselines/uring_echo (hand-written liburing)
#   epoll_echo   build/bench/baselines/epoll_echo (hand-written epoll)
# NAME=COMMAND adds a server: COMMAND PORT must serve echo on 127.0.0.1:PORT; it may start with
# "env VAR=VALUE ..." (words split on blanks, no quoting). BUILD_DIR chooses the build (build).
# Method: the server runs under valgrind --tool=callgrind pinned to CPU 0, the load generator
# (build/bench/loadgen, 1 connection, 64 B, depth 1, no warm-up) pinned to CPU 1, for 1 s in
# one run and 3 s in another; then callgrind_control dumps the idle server's count. Ir/msg =
# (Ir3 - Ir1) / (msgs3 - msgs1): start-up and connection set-up are the same in both runs and
# cancel. Kernel work is not counted.
set -u
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}
LOADGEN=$B/bench/loadgen
command -v valgrind >/dev/null || { echo "echo_ir: valgrind is missing" >&2; exit 2; }
command -v callgrind_control >/dev/null || { echo "echo_ir: callgrind_control (valgrind) is missing" >&2; exit 2; }
command -v taskset >/dev/null || { echo "echo_ir: taskset is missing" >&2; exit 2; }
[ -x "$LOADGEN" ] || { echo "echo_ir: no $LOADGEN (ninja -C $B bench/loadgen)" >&2; exit 2; }

declare -A CMD=(
    [lwtpp]="$B/samples/echo_server"
    [lwtpp_epoll]="env LWT_ENGINE=epoll $B/samples/echo_server"
    [uring_echo]="$B/bench/baselines/uring_echo"
    [epoll_echo]="$B/bench/baselines/epoll_echo"
)
names=()
for a in "$@"; do
    case $a in
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *=*) CMD[${a%%=*}]=${a#*=}; names+=("${a%%=*}") ;;
    *) names+=("$a") ;;
    esac
done
if [ ${#names[@]} -eq 0 ]; then
    names=(uring_echo epoll_echo lwtpp lwtpp_epoll)
    [ -x "$B/bench/baselines/uring_echo" ] || names=(epoll_echo lwtpp lwtpp_epoll)
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# measure NAME SECONDS: prints "IR MSGS ENGINE", or returns 1 after saying why on stderr.
measure() {
    local name=$1 secs=$2
    # valgrind must trace the server, not env: the "env VAR=..." words go in front of it.
    local words envs=() cmd=()
    read -ra words <<<"${CMD[$name]}"
    local i=0
    [ "${words[0]}" = env ] && i=1
    while [ $i -lt ${#words[@]} ] && [[ ${words[$i]} == *=* ]]; do envs+=("${words[$i]}"); i=$((i + 1)); done
    cmd=("${words[@]:$i}")
    [ -x "${cmd[0]}" ] || command -v "${cmd[0]}" >/dev/null ||
        { echo "echo_ir: $name: no ${cmd[0]} (build it: ninja -C $B ${cmd[0]#"$B"/})" >&2; return 1; }

    local port; port=$(free_port)
    local out srvlog; out=$(mktemp -d); srvlog=$(mktemp)
    taskset -c 0 env "${envs[@]}" valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
        "${cmd[@]}" "$port" >/dev/null 2>"$srvlog" &
    local pid=$!
    # valgrind takes a few seconds to start; listening is checked without connecting, so the
    # server sees only the load generator's connection.
    for _ in $(seq 1 300); do
        listening "$port" && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    local line="" msgs="" ir="" loadlog; loadlog=$(mktemp)
    if listening "$port"; then
        taskset -c 1 "$LOADGEN" --quiet --name "$name" --connections 1 --size 64 --depth 1 \
            --duration "$secs" --warmup 0 "$port" >"$loadlog" 2>/dev/null
        line=$(head -n 1 "$loadlog")
        msgs=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/^msgs=//p')
        # The count so far, dumped by callgrind while the server lives on, idle: no signal
        # needed (under valgrind, lwt++ asleep in io_uring_enter may not see one for long).
        # callgrind takes the request when the server next runs: a connection wakes it.
        timeout 60 callgrind_control -d "$pid" >/dev/null 2>&1 &
        local ctl=$!
        for _ in $(seq 1 300); do
            compgen -G "$out/cg.out.*" >/dev/null && break
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
            sleep 0.1
        done
        wait "$ctl" 2>/dev/null
        ir=$(cat "$out"/cg.out.* 2>/dev/null | awk '/^totals:/ {print $2; exit}')
    fi
    rm -f "$loadlog"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local engine; engine=$(sed -n 's/.*(\([a-z]*\) engine).*/\1/p' "$srvlog" | head -n 1)
    rm -rf "$out"
    if [ -z "$ir" ] || [ -z "$msgs" ]; then
        echo "echo_ir: $name (${secs} s): no result (Ir '${ir}', load '${line}')" >&2
        sed 's/^/    /' "$srvlog" >&2
        rm -f "$srvlog"
        return 1
    fi
    rm -f "$srvlog"
    echo "$ir $msgs ${engine:--}"
}

status=0
for name in "${names[@]}"; do
    if [ -z "${CMD[$name]+set}" ]; then
        echo "echo_ir: unknown server $name (built-ins: ${!CMD[*]}; or NAME=COMMAND)" >&2
        status=1
        continue
    fi
    if ! r1=$(measure "$name" 1) || ! r3=$(measure "$name" 3); then
        status=1
        continue
    fi
    read -r ir1 m1 engine <<<"$r1"
    read -r ir3 m3 _ <<<"$r3"
    if [ "$m3" -le "$m1" ]; then
        echo "echo_ir: $name: the 3 s run echoed no more than the 1 s run ($m3 <= $m1)" >&2
        status=1
        continue
    fi
    awk -v n="$name" -v e="$engine" -v a="$ir1" -v b="$ir3" -v m1="$m1" -v m3="$m3" 'BEGIN {
        printf "%-14s Ir_per_msg=%.0f  (Ir %d / %d, msgs %d / %d%s)\n", n, (b - a) / (m3 - m1), a, b, m1, m3,
            e == "-" ? "" : ", " e " engine" }'
done
exit $status
