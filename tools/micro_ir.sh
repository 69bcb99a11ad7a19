#!/usr/bin/env bash
# micro_ir.sh: user-space instructions per operation of bench/promise under callgrind.
#   tools/micro_ir.sh [BUILD_DIR] [NAME...]
# For each benchmark NAME: (Ir(2N) - Ir(N)) / N, which cancels start-up and teardown.
# callgrind counts instructions, not time: the figure is repeatable on a loaded machine.
set -eu
B=${1:-build}
shift || true
BIN=$B/bench/promise
[ -x "$BIN" ] || { echo "micro_ir: no $BIN (ninja -C $B)" >&2; exit 2; }
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(await_resolved call_resolved wait_await_resolve pick_two join_1000 spawn_run pause_x1000)
ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" once "$1" "$2" 2>&1 >/dev/null |
    awk '/Collected :/ {print $NF}'; }
for name in "${names[@]}"; do
    n=100000
    case $name in join_1000|spawn_run|pause_x1000) n=200000 ;; esac
    a=$(ir "$n" "$name"); b=$(ir $((2 * n)) "$name")
    awk -v a="$a" -v b="$b" -v n="$n" -v name="$name" 'BEGIN{printf "%-20s Ir_per_op=%.1f\n", name, (b-a)/n}'
done
