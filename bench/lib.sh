# bench/lib.sh: what the bench scripts share. Source it from the repository root.

# bench_init NAME: needs root, installs and builds what is missing, sets BIN, OUT (a new
# directory unless OUT is given), B (the server's address) and SPID.
bench_init() {
    NAME=$1
    [ "$(id -u)" = 0 ] || { echo "$NAME: needs root (network namespaces, XDP): run with sudo" >&2; exit 1; }
    scripts/setup.sh >&2
    BIN=target/release/xstack
    OUT=${OUT:-$(mktemp -d "/tmp/xstack-${NAME%.sh}.XXXXXX")}
    mkdir -p "$OUT"
    B=198.18.0.2
    SPID=""
}

log() { echo "$NAME: $*" >&2; }

# stop_server: stops the server started last. TERM, not INT: a background job of a
# script starts with SIGINT ignored.
stop_server() {
    if [ -n "$SPID" ]; then
        kill -TERM "$SPID" 2>/dev/null || true
        wait "$SPID" 2>/dev/null || true
        SPID=""
    fi
}

# serve_xstack FILE ARGS...: xstack serve in xs-b owning $B with ARGS, its stdout in FILE;
# returns once it says it is ready.
serve_xstack() {
    local out=$1
    shift
    ip netns exec xs-b "$BIN" serve --iface xsb0 --ip "$B/24" "$@" >"$out" 2>/dev/null &
    SPID=$!
    for _ in $(seq 100); do
        grep -q ready "$out" 2>/dev/null && return 0
        sleep 0.1
    done
    log "xstack serve $* was not ready after 10 s"
}
