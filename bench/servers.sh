# servers.sh: what bench/idle_memory.sh and bench/http_cpu.sh share (sourced, not run).
# CMD is an associative array NAME -> "COMMAND" (the server is COMMAND PORT; it may start
# with "env VAR=VALUE ...").

# Whether NAME's program is built or installed.
available() {
    local first
    first=$(echo "${CMD[$1]}" | awk '{ for (i = 1; i <= NF; ++i) if ($i != "env" && $i !~ /=/) { print $i; exit } }')
    [ -x "$first" ] || command -v "$first" >/dev/null 2>&1
}

# A first port to try, below the ephemeral range: the clients' own ports (thousands of them,
# then in TIME_WAIT) must not take the next server's. Callers count up from it.
first_port() {
    local low
    low=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    echo $((1024 + RANDOM % ((low - 1024) / 2)))
}

# Waits (up to 5 s) until something listens on 127.0.0.1:PORT.
wait_listening() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
