#!/usr/bin/env bash
# Draws docs/img/tutorial_trace.svg: the trace (LWT_TRACE) of the tutorial's server (step 5)
# while the tutorial's client (step 6) sends it two lines.
#   usage: tools/tutorial_trace.sh [build dir, default build] [port, default 9100]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
port=${2:-9100}
trace=$(mktemp /tmp/tutorial_trace.XXXXXX.json)
LWT_TRACE=$trace "$build/samples/tutorial_5_server" "$port" >/dev/null &
server=$!
for _ in $(seq 50); do nc -z 127.0.0.1 "$port" 2>/dev/null && break; sleep 0.1; done
"$build/samples/tutorial_6_client" "$port" hello 'big world'
kill -TERM "$server"
wait "$server" || true
python3 tools/trace_svg.py "$trace" docs/img/tutorial_trace.svg \
    --title "tutorial_5_server serving tutorial_6_client (LWT_TRACE, drawn by tools/trace_svg.py)"
rm -f "$trace"
echo "docs/img/tutorial_trace.svg"
