#!/usr/bin/env bash
# Lwt_io's data path beside plain blocking read/write and OCaml's Lwt 5.6, in one run:
#   bench/io_throughput.sh [-b BUILD_DIR] [-n LINES] [-s BYTES] [-r RUNS] [-d DIR]
# Defaults: build, 10000000 lines, 1G bytes, 3 runs (the best is kept), the file test in
# /tmp. Prints one table; the rows are: lwt++ on io_uring, lwt++ on epoll, blocking
# read/write (two threads for a pipe), Lwt (built here when ocamlfind and lwt.unix exist).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=build lines=10000000 bytes=1G runs=3 dir=/tmp
while getopts b:n:s:r:d: o; do
    case $o in
    b) build=$OPTARG ;; n) lines=$OPTARG ;; s) bytes=$OPTARG ;; r) runs=$OPTARG ;; d) dir=$OPTARG ;;
    *) sed -n 2,6p "$0"; exit 2 ;;
    esac
done
exe=$build/bench/io_throughput
[ -x "$exe" ] || { echo "no $exe: build first (./run build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

impls=("lwt++ io_uring|env LWT_ENGINE=uring $exe" "lwt++ epoll|env LWT_ENGINE=epoll $exe" "blocking read/write|$exe --blocking")
if command -v ocamlfind >/dev/null && ocamlfind query lwt.unix >/dev/null 2>&1; then
    cp "$here/lwt/io_throughput.ml" "$out/lwt_io_throughput.ml"
    (cd "$out" && ocamlfind ocamlopt -O3 -thread -package lwt.unix -linkpkg lwt_io_throughput.ml -o lwt_io_throughput 2>/dev/null ||
        ocamlfind ocamlopt -thread -package lwt.unix -linkpkg lwt_io_throughput.ml -o lwt_io_throughput)
    impls+=("Lwt 5.6|$out/lwt_io_throughput")
else
    echo "(Lwt row skipped: no ocamlfind with lwt.unix; apt-get install ocaml-findlib liblwt-ocaml-dev)" >&2
fi

# best FILE MEASURE: the best "mb_per_s per_s" of a measure among the runs recorded in FILE.
best() {
    grep "test=$2 " "$1" | sed 's/.*per_s=\([0-9.]*\) mb_per_s=\([0-9.]*\)/\2 \1/' | sort -g -r | head -n 1
}

printf '%-20s %14s %12s %12s %12s %12s\n' implementation "lines/s" "lines MB/s" "pipe MB/s" "file write" "file read"
for entry in "${impls[@]}"; do
    name=${entry%%|*} cmd=${entry#*|}
    log=$out/runs.txt
    : >"$log"
    for _ in $(seq 1 "$runs"); do
        $cmd lines "$lines" >>"$log"
        $cmd pipe "$bytes" >>"$log"
        $cmd file "$bytes" "$dir/io_throughput.$$" >>"$log"
    done
    read -r lmb lps < <(best "$log" lines)
    read -r pmb _ < <(best "$log" pipe)
    read -r wmb _ < <(best "$log" file_write)
    read -r rmb _ < <(best "$log" file_read)
    printf '%-20s %14.0f %12.1f %12.1f %12.1f %12.1f\n' "$name" "$lps" "$lmb" "$pmb" "$wmb" "$rmb"
done
