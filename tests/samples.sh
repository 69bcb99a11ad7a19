#!/usr/bin/env bash
# Smoke tests of the samples, against real clients (nc, curl, redis-cli) or their own output.
#   tests/samples.sh SAMPLES_DIR NAME        (LWT_ENGINE selects the engine)
# Exit status 0: the sample behaved; 77: a client program is missing (skipped).
set -uo pipefail
S=$1
name=$2
PID=
# What the servers print on stderr, shown when a check fails (a server's last words explain
# most failures seen only in CI).
SERVER_ERR=$(mktemp)
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; rm -f "$SERVER_ERR"; true; }
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -s "$SERVER_ERR" ]; then
        echo "the server's stderr (last 20 lines):" >&2
        tail -n 20 "$SERVER_ERR" | sed 's/^/    /' >&2
    fi
    exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || { echo "skipped: $1 is not installed" >&2; exit 77; }; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    fail "nothing listens on port $1"
}
start() { "$@" 2>>"$SERVER_ERR" & PID=$!; }
stop() {
    kill -TERM "$PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
    kill -0 "$PID" 2>/dev/null && fail "the server did not stop on SIGTERM"
    wait "$PID"
    local rc=$?
    PID=
    [ "$rc" = 0 ] || fail "the server exited with status $rc"
}
expect() {  # expect WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: got [$2], expected [$3]"
}
T() { timeout 20 "$@"; }
# make_cert DIR: a self-signed certificate for localhost and 127.0.0.1 (DIR/cert.pem, DIR/key.pem).
make_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$1/key.pem" -out "$1/cert.pem" >/dev/null 2>&1 ||
        fail "openssl req could not make a certificate"
}
# A client: sends a line, ends its stream, prints what the server sent until it closed. (nc
# -N -q S would wait its S seconds after each client.)
one_client() {
    T python3 -c '
import socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10) as s:
    s.sendall(sys.argv[2].encode() + b"\n")
    s.shutdown(socket.SHUT_WR)
    while chunk := s.recv(65536):
        sys.stdout.buffer.write(chunk)
' "$1" "$2"
}

# hostile PORT DATA [SECONDS]: sends DATA (with backslash escapes; "LINE64M" stands for 64 MiB
# of 'x' without a newline) while reading what the server answers; prints the answer (without
# its CRs), then "[closed]" if the server closed the connection (an end of file or a reset)
# within SECONDS (default 3; 10 under LWT_FAULTS), else "[open]".
hostile() {
    local rc writer secs
    exec 3<>"/dev/tcp/127.0.0.1/$1" || fail "cannot connect to port $1"
    if [ "$2" = LINE64M ]; then
        { head -c 67108864 /dev/zero | tr '\0' x >&3; } 2>/dev/null &
    else
        { printf '%b' "$2" >&3; } 2>/dev/null &
    fi
    writer=$!
    # (Byte by byte under LWT_FAULTS, a server takes longer to read a 40 KB head.)
    secs=${3:-3}
    [ -z "${3:-}" ] && [ -n "${LWT_FAULTS:-}" ] && secs=10
    timeout "$secs" cat <&3 2>/dev/null | tr -d '\r'
    rc=${PIPESTATUS[0]}
    exec 3<&-
    kill "$writer" 2>/dev/null
    wait "$writer" 2>/dev/null
    if [ "$rc" = 124 ]; then echo "[open]"; else echo "[closed]"; fi
}
# The server's peak resident memory (VmHWM, in kB).
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status"; }
# peak_within WHAT BASE_KB: the server's peak grew by at most 8 MB over BASE_KB. Under
# AddressSanitizer (whose quarantine keeps freed memory) the peak is not the program's own:
# the check is skipped there, with a note.
sanitized() { grep -q __asan_init "$S/$name" 2>/dev/null; }
peak_within() {
    local now
    now=$(hwm)
    if sanitized; then
        echo "note: $1: peak memory not checked under AddressSanitizer" >&2
    elif [ $((now - $2)) -gt 8192 ]; then
        fail "$1: peak RSS grew from $2 kB to $now kB (more than 8 MB)"
    fi
}

case $name in
echo_lines | echo_lines_bind)
    expect "$name" "$(printf 'one\ntwo\r\nlast' | T "$S/$name")" "$(printf 'one\ntwo\nlast')"
    expect "$name stops at an empty line" "$(printf 'one\n\nnever\n' | T "$S/$name")" "one"
    ;;
request_timeout)
    expect "$name" "$(T "$S/request_timeout" | tail -n 1)" "hello"
    # A server that takes the connection and never answers: the 5-second timeout wins.
    port=$(free_port)
    start python3 -c "import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(30)"
    wait_port "$port"
    expect "$name times out" "$(T "$S/request_timeout" 127.0.0.1 "$port" 2>&1 >/dev/null; echo "exit $?")" "Request timed out
exit 1"
    expect "$name reports a refused connection" "$(T "$S/request_timeout" 127.0.0.1 1 2>&1 >/dev/null | cut -c1-15; echo "exit ${PIPESTATUS[0]}")" "Request failed:
exit 2"
    # --tls: HTTPS to openssl s_server -www, whose certificate (made here) is verified, then
    # to one that the client does not trust.
    if command -v openssl >/dev/null 2>&1 && "$S/request_timeout" --tls 2>&1 | grep -q usage; then
        dir=$(mktemp -d)
        make_cert "$dir"
        port=$(free_port)
        start openssl s_server -accept "$port" -cert "$dir/cert.pem" -key "$dir/key.pem" -www
        wait_port "$port"
        expect "$name --tls" "$(T "$S/request_timeout" --tls --cafile "$dir/cert.pem" localhost "$port" | head -n 1 | tr -d '\r')" \
            "HTTP/1.0 200 ok"
        expect "$name --tls, a certificate it does not trust" \
            "$(T "$S/request_timeout" --tls localhost "$port" 2>&1 >/dev/null | cut -c1-52; echo "exit ${PIPESTATUS[0]}")" \
            "Request failed: ssl_connect: certificate verify faile
exit 2"
        kill "$PID"
        wait "$PID" 2>/dev/null
        PID=
        rm -rf "$dir"
    fi
    ;;
tcp_server | tcp_client | tcp_client_bind | tcp_connection | tcp_connection_bind | accept_loop)
    need nc
    port=$(free_port)
    server=tcp_server
    [ "$name" = accept_loop ] && server=accept_loop
    start "$S/$server" "$port"
    wait_port "$port"
    # (no input: a server that closes with unread input resets the connection)
    expect "nc" "$(T nc -q 2 127.0.0.1 "$port" </dev/null | head -n 1)" "Hello from server!"
    case $name in
    tcp_client | tcp_client_bind | tcp_connection | tcp_connection_bind)
        expect "$name" "$(T "$S/$name" 127.0.0.1 "$port")" "Hello from server!"
        ;;
    esac
    if [ "$server" = tcp_server ]; then stop; else kill "$PID"; wait "$PID" 2>/dev/null; PID=; fi
    ;;
never_resolving)
    out=$(T "$S/never_resolving")
    grep -q "run refused to wait forever" <<<"$out" || fail "never_resolving: $out"
    grep -q "gave 1" <<<"$out" || fail "never_resolving: $out"
    ;;
switch)
    out=$(T "$S/switch")
    [ "$(grep -c 'closed by the switch' <<<"$out")" = 3 ] || fail "switch: $out"
    ;;
echo_server)
    need nc
    port=$(free_port)
    start "$S/echo_server" "$port"
    wait_port "$port"
    expect "one client" "$(one_client "$port" ping)" "ping"
    big=$(head -c 300000 /dev/urandom | base64 -w 0)
    expect "nc (300 kB)" "$(printf '%s\n' "$big" | T nc -N -q 3 127.0.0.1 "$port" | md5sum)" "$(printf '%s\n' "$big" | md5sum)"
    # The port is taken: one clear line and exit status 2, not std::terminate.
    expect "a second server on the port" "$(T "$S/echo_server" "$port" 2>&1; echo "exit $?")" \
        "echo_server: bind(127.0.0.1:$port): Address already in use
exit 2"
    stop
    # Two loops on one port: every client is echoed, whichever loop the kernel chose.
    port=$(free_port)
    start "$S/echo_server" --loops 2 "$port"
    wait_port "$port"
    for i in 1 2 3 4 5 6 7 8; do
        expect "one client (--loops 2, client $i)" "$(one_client "$port" "ping $i")" "ping $i"
    done
    stop
    # Out of descriptors (ulimit -n 64, 300 clients at once): the server backs off, lives on,
    # and serves again once the clients have gone. Not in a sanitizer build: UBSan's vptr
    # check opens a pipe the first time it meets a type, and with no descriptor left it
    # reports a false error and stops the program (test_io and the soak suite check the
    # back-off there, having met their types first).
    if sanitized; then
        echo "note: the descriptor flood is not run under the sanitizers" >&2
    else
        port=$(free_port)
        start bash -c "ulimit -n 64 && exec \"$S/echo_server\" $port"
        wait_port "$port"
        T python3 - "$port" <<'PY' || fail "the flood of 300 clients"
import socket, sys, time
socks = []
for _ in range(300):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    socks.append(s)
time.sleep(0.3)
for s in socks:
    s.close()
PY
        kill -0 "$PID" 2>/dev/null || fail "echo_server died out of descriptors"
        expect "a client after the flood" "$(one_client "$port" again)" "again"
        stop
    fi
    ;;
curl_fetch)
    # Several downloads at once from the project's own http_server, through libcurl's
    # multi-socket interface on the loop: bytes compared, statuses printed in order.
    port=$(free_port)
    root=$(mktemp -d)
    out=$(mktemp -d)
    head -c 3000000 /dev/urandom >"$root/big.bin"
    printf 'static file\n' >"$root/small.txt"
    start "$S/http_server" --root "$root" "$port"
    wait_port "$port"
    u=http://127.0.0.1:$port
    got=$(T "$S/curl_fetch" -o "$out" "$u/big.bin" "$u/small.txt" "$u/" "$u/missing" "$u/big.bin" "$u/big.bin") ||
        fail "curl_fetch failed: $got"
    expect "the lines, in order" "$got" "$u/big.bin: 200, 3000000 bytes
$u/small.txt: 200, 12 bytes
$u/: 200, 17 bytes
$u/missing: 404, $(T curl -s "$u/missing" | wc -c) bytes
$u/big.bin: 200, 3000000 bytes
$u/big.bin: 200, 3000000 bytes"
    for i in 1 5 6; do cmp -s "$root/big.bin" "$out/$i" || fail "download $i differs from big.bin"; done
    cmp -s "$root/small.txt" "$out/2" || fail "download 2 differs from small.txt"
    stop
    # Nothing listens: the download fails, the line says so, the status is 1.
    got=$(T "$S/curl_fetch" "$u/small.txt")
    rc=$?
    expect "a refused connection's status" "$rc" "1"
    case "$got" in "$u/small.txt: failed: "*) ;; *) fail "a refused connection: got [$got]" ;; esac
    rm -rf "$root" "$out"
    ;;
tls_echo_server)
    # Lines echoed over TLS to openssl s_client, which verifies the server's certificate
    # (made here) and its host name.
    need openssl
    dir=$(mktemp -d)
    make_cert "$dir"
    port=$(free_port)
    start "$S/tls_echo_server" --cert "$dir/cert.pem" --key "$dir/key.pem" "$port"
    wait_port "$port"
    got=$( { printf 'hello\nover tls\n'; sleep 1; } | T openssl s_client -connect "127.0.0.1:$port" \
        -CAfile "$dir/cert.pem" -verify_return_error -verify_hostname localhost -servername localhost -brief \
        2>"$dir/client.err")
    expect "the lines, echoed" "$got" "hello
over tls"
    grep -q "Verification: OK" "$dir/client.err" || fail "s_client did not verify the certificate: $(cat "$dir/client.err")"
    # A client that does not trust the certificate: the handshake fails, the server goes on.
    { sleep 1; } | T openssl s_client -connect "127.0.0.1:$port" -verify_return_error -brief >/dev/null 2>&1 &&
        fail "a client without the CA connected"
    got=$( { printf 'again\n'; sleep 1; } | T openssl s_client -connect "127.0.0.1:$port" -CAfile "$dir/cert.pem" \
        -verify_return_error -brief 2>/dev/null)
    expect "a line after a refused handshake" "$got" "again"
    stop
    rm -rf "$dir"
    ;;
http_server)
    need curl
    port=$(free_port)
    root=$(mktemp -d)
    printf 'static file\n' >"$root/file.txt"
    start "$S/http_server" --root "$root" "$port"
    wait_port "$port"
    u=http://127.0.0.1:$port
    expect "GET /" "$(T curl -s "$u/")" "Hello from lwt++"
    expect "GET /file.txt" "$(T curl -s "$u/file.txt")" "static file"
    expect "404" "$(T curl -s -o /dev/null -w '%{http_code}' "$u/missing")" "404"
    expect "HEAD" "$(T curl -s -I "$u/" | head -n 1 | tr -d '\r')" "HTTP/1.1 200 OK"
    # keep-alive: two requests, one connection
    reused=$(T curl -s -v "$u/" "$u/file.txt" 2>&1 | grep -c -i 're-using existing connection\|Reusing existing')
    [ "$reused" -ge 1 ] || fail "keep-alive: curl did not reuse the connection"
    expect "traversal" "$(T curl -s --path-as-is -o /dev/null -w '%{http_code}' "$u/../etc/passwd")" "403"
    if command -v wrk >/dev/null 2>&1; then
        T wrk -t1 -c16 -d1s "$u/" | grep -q "Requests/sec" || fail "wrk"
    fi
    stop
    # --keep-alive: a connection idle past it is closed by the server; one that keeps asking
    # is served throughout.
    port=$(free_port)
    start "$S/http_server" --root "$root" --keep-alive 0.4 "$port"
    wait_port "$port"
    expect "keep-alive timeout" "$(T python3 -c '
import socket, sys, time
def ask(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while not got.endswith(b"Hello from lwt++\n"):
        got += s.recv(4096)
busy = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
idle = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
ask(idle)
for _ in range(12):   # 1.2 s of requests 0.1 s apart
    ask(busy)
    time.sleep(0.1)
print("idle closed" if idle.recv(1) == b"" else "idle open", "busy served")
' "$port")" "idle closed busy served"
    stop
    # Two loops on one port (reuse_port): every request answered.
    port=$(free_port)
    start "$S/http_server" --root "$root" --loops 2 "$port"
    wait_port "$port"
    u=http://127.0.0.1:$port
    for i in 1 2 3 4 5 6 7 8; do
        expect "GET /file.txt (--loops 2, request $i)" "$(T curl -s "$u/file.txt")" "static file"
    done
    stop
    # Hostile requests: each is refused with its status and the connection closed, and the
    # server's peak memory stays within 8 MB of what it was idle.
    port=$(free_port)
    start "$S/http_server" --root "$root" "$port"
    wait_port "$port"
    base=$(hwm)
    status() { hostile "$port" "$1" | sed -n '1p;$p' | tr '\n' ' '; }
    expect "a 64 MiB line without newline" "$(status LINE64M)" "HTTP/1.1 431 Request Header Fields Too Large [closed] "
    peak_within "a 64 MiB line without newline" "$base"
    f8k=$(head -c 8000 /dev/zero | tr '\0' a)
    expect "a head over 32 KiB (five fields of 8000 bytes)" \
        "$(status "GET / HTTP/1.1\r\nA: $f8k\r\nB: $f8k\r\nC: $f8k\r\nD: $f8k\r\nE: $f8k\r\n\r\n")" \
        "HTTP/1.1 431 Request Header Fields Too Large [closed] "
    expect "101 header fields" "$(status "GET / HTTP/1.1\r\n$(printf 'X-%s: v\\r\\n' $(seq 101))\r\n")" \
        "HTTP/1.1 431 Request Header Fields Too Large [closed] "
    expect "a Content-Length of 400 MB" "$(status 'POST / HTTP/1.1\r\nContent-Length: 400000000\r\n\r\nab')" \
        "HTTP/1.1 413 Content Too Large [closed] "
    expect "a Content-Length of 40 digits" "$(status "POST / HTTP/1.1\r\nContent-Length: $(printf '9%.0s' $(seq 40))\r\n\r\n")" \
        "HTTP/1.1 413 Content Too Large [closed] "
    expect "a header line without colon" "$(status 'GET / HTTP/1.1\r\nno colon\r\n\r\n')" "HTTP/1.1 400 Bad Request [closed] "
    expect "a malformed Content-Length" "$(status 'GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n')" "HTTP/1.1 400 Bad Request [closed] "
    expect "a malformed request line" "$(status 'GET /\r\n\r\n')" "HTTP/1.1 400 Bad Request [closed] "
    expect "Transfer-Encoding" "$(status 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n')" "HTTP/1.1 501 Not Implemented [closed] "
    # A body within the limit is read away, and the connection serves the next request.
    expect "a small body, then a request on the same connection" \
        "$(hostile "$port" 'POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nConnection: close\r\n\r\n' | grep -c '^HTTP/1.1 ')" "2"
    peak_within "the hostile requests" "$base"
    expect "GET / after the hostile requests" "$(T curl -s "http://127.0.0.1:$port/")" "Hello from lwt++"
    stop
    rm -rf "$root"
    ;;
chat_server)
    port=$(free_port)
    start "$S/chat_server" "$port"
    wait_port "$port"
    T python3 - "$port" <<'EOF' || fail "chat_server"
import socket, sys, time
port = int(sys.argv[1])
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rw", newline="\n")
    f.readline()  # welcome
    return s, f
a, fa = connect()
b, fb = connect()
assert "joined" in fa.readline()          # a sees b join
fa.write("/nick alice\n"); fa.flush()
assert "is now alice" in fb.readline()
fa.write("hello everyone\n"); fa.flush()
line = fb.readline()
assert line == "<alice> hello everyone\n", line
fb.write("/who\n"); fb.flush()
assert "alice" in fb.readline()
fa.close()  # (the file object holds the socket open too)
a.close()
assert "left" in fb.readline()
EOF
    stop
    ;;
kv_server)
    need redis-cli
    port=$(free_port)
    start "$S/kv_server" "$port"
    wait_port "$port"
    r() { T redis-cli -p "$port" "$@"; }
    expect "PING" "$(r ping)" "PONG"
    expect "SET" "$(r set greeting hello)" "OK"
    expect "GET" "$(r get greeting)" "hello"
    expect "INCR" "$(r incr counter)" "1"
    expect "INCR" "$(r incr counter)" "2"
    expect "INCR (not a number)" "$(r incr greeting)" "ERR value is not an integer or out of range"
    expect "DEL" "$(r del greeting counter missing)" "2"
    expect "GET (deleted)" "$(r get greeting)" ""
    r set temp x >/dev/null
    expect "EXPIRE" "$(r pexpire temp 100)" "1"
    sleep 0.3
    expect "GET (expired)" "$(r get temp)" ""
    # pipelining: three commands in one write
    got=$(printf '*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n' |
        T nc -q 2 127.0.0.1 "$port" | tr -d '\r' | tr '\n' ' ')
    expect "pipelining" "$got" "+PONG +OK \$1 v "
    if command -v redis-benchmark >/dev/null 2>&1; then
        T redis-benchmark -p "$port" -t set,get,incr -n 2000 -P 16 -q >/dev/null || fail "redis-benchmark"
    fi
    stop
    # Hostile requests: nothing is allocated on a length the client claims, a line without end
    # costs no more than the line limit, and a protocol violation is answered with an error and
    # the connection closed (as Redis does). Peak memory: within 8 MB of idle.
    port=$(free_port)
    start "$S/kv_server" "$port"
    wait_port "$port"
    base=$(hwm)
    expect "a 64 MiB line without newline" "$(hostile "$port" LINE64M)" "-ERR Protocol error: too big inline request
[closed]"
    peak_within "a 64 MiB line without newline" "$base"
    # 20 bytes claiming a 400 MB argument, then silence: the server waits, holding 2 bytes.
    expect "a 400 MB bulk length with 2 bytes of it" "$(hostile "$port" '*1\r\n$400000000\r\nab' 1)" "[open]"
    expect "a million arguments claimed, none sent" "$(hostile "$port" '*1000000\r\n' 1)" "[open]"
    peak_within "claimed lengths" "$base"
    expect "a bulk length over 512 MB" "$(hostile "$port" '*1\r\n$600000000\r\n')" "-ERR Protocol error: invalid bulk length
[closed]"
    expect "more than 1024 * 1024 arguments" "$(hostile "$port" '*1048577\r\n')" "-ERR Protocol error: invalid multibulk length
[closed]"
    expect "an array of something else than bulk strings" "$(hostile "$port" '*1\r\n+PING\r\n')" "-ERR Protocol error: expected '\$'
[closed]"
    expect "a bulk string longer than its length" "$(hostile "$port" '*1\r\n$4\r\nPINGX\r\n')" "-ERR Protocol error: expected CRLF after a bulk string
[closed]"
    r() { T redis-cli -p "$port" "$@"; }
    expect "PING after the hostile requests" "$(r ping)" "PONG"
    stop
    ;;
cat)
    f=$(mktemp)
    printf 'first\nsecond\n' >"$f"
    expect "cat FILE" "$(T "$S/cat" "$f")" "$(printf 'first\nsecond')"
    expect "cat stdin" "$(printf 'piped\n' | T "$S/cat")" "piped"
    T "$S/cat" /nonexistent 2>/dev/null && fail "cat of a missing file should fail"
    rm -f "$f"
    ;;
cp)
    src=$(mktemp)
    head -c 1000000 /dev/urandom >"$src"
    T "$S/cp" "$src" "$src.copy" 2>/dev/null || fail "cp failed"
    cmp -s "$src" "$src.copy" || fail "cp: the copy differs"
    rm -f "$src" "$src.copy"
    ;;
fanout)
    out=$(T "$S/fanout")
    grep -q "/slow *timed out" <<<"$out" || fail "fanout: $out"
    [ "$(grep -c bytes <<<"$out")" = 3 ] || fail "fanout: $out"
    ;;
pipeline)
    out=$(T "$S/pipeline")
    grep -q "3 the" <<<"$out" || fail "pipeline: $out"
    grep -q "exited with code 3" <<<"$out" || fail "pipeline: $out"
    ;;
producer_consumer)
    out=$(T "$S/producer_consumer")
    [ "$(grep -c consumed <<<"$out")" = 20 ] || fail "producer_consumer: $out"
    grep -q "handled" <<<"$out" || fail "producer_consumer: $out"
    ;;
tutorial_1_first)
    expect "$name" "$(T "$S/$name")" "$(printf 'hello, world\ngreet returned; pending: true\ngoodbye, world\ngreeted world')"
    ;;
tutorial_2_awaiting)
    expect "$name" "$(T "$S/$name")" "$(printf 'a got 42\nb got 42\nparse("7") = 7\nparse("") failed: empty input')"
    ;;
tutorial_3_concurrency)
    out=$(T "$S/$name")
    grep -q "^all: a and b after ~[0-9]* ms$" <<<"$out" || fail "$name: $out"
    grep -q "^pick: fast after ~[0-9]* ms; the slow one was cancelled: true$" <<<"$out" || fail "$name: $out"
    ;;
tutorial_4_cancel)
    expect "$name" "$(T "$S/$name")" "$(printf 'timed out after 100 ms\nclean-up ran\nafter cancel: rejected = true\nthe protected work finished anyway')"
    ;;
tutorial_5_server | tutorial_6_client)
    need nc
    port=$(free_port)
    start "$S/tutorial_5_server" "$port"
    wait_port "$port"
    if [ "$name" = tutorial_5_server ]; then
        expect "nc" "$(printf 'abc\nxyz\n' | T nc -q 2 127.0.0.1 "$port")" "$(printf 'ABC\nXYZ')"
    else
        expect "$name" "$(T "$S/$name" "$port" hello 'big world')" "$(printf 'hello -> HELLO\nbig world -> BIG WORLD')"
    fi
    stop
    ;;
tutorial_7_cores)
    port=$(free_port)
    out=$(mktemp)
    "$S/$name" "$port" 2 >"$out" 2>/dev/null &
    PID=$!
    wait_port "$port"
    for i in 1 2 3 4 5 6; do
        grep -q "^loop [01]: hi $i$" <<<"$(one_client "$port" "hi $i")" || fail "$name: client $i"
    done
    stop
    grep -q "^listening on 127.0.0.1:$port with 2 loops$" "$out" || fail "$name: $(cat "$out")"
    # (six clients, and the connection of wait_port that found the port open)
    grep -q "^served 7 clients$" "$out" || fail "$name: $(cat "$out")"
    rm -f "$out"
    ;;
*)
    fail "no smoke test for sample $name"
    ;;
esac
echo "ok: $name"
