# bench/lib.sh: what the bench scripts share. Source it from the repository root.
# Starting, readiness, stopping, JSON and statistics go through tests/harness
# (harness.sh and `hx`): every server is stopped by the PID recorded when it started,
# and a server that never becomes ready stops the bench with a sentence saying so.
source "$(dirname "${BASH_SOURCE[0]}")/../tests/harness/harness.sh"

# bench_init NAME: needs root, installs and builds what is missing, sets BIN, OUT (a new
# directory unless OUT is given), B (the server's address) and SPID; on exit, stops
# whatever is still running and tears the lab down.
bench_init() {
    NAME=$1
    [ "$(id -u)" = 0 ] || { echo "$NAME: needs root (network namespaces, XDP): run with sudo" >&2; exit 1; }
    scripts/setup.sh >&2
    BIN=$HX_BIN
    OUT=${OUT:-$(mktemp -d "/tmp/xstack-${NAME%.sh}.XXXXXX")}
    mkdir -p "$OUT"
    B=$HX_B
    SPID=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    hx_stop_all
    hx_lab_down || true
}

log() { echo "$NAME: $*" >&2; }

# stop_server: stops the server started last (SIGTERM; SIGKILL after 10 s).
stop_server() {
    if [ -n "$SPID" ]; then
        hx_stop "$SPID" TERM 10 || log "the server (pid $SPID) did not stop on SIGTERM"
        SPID=""
    fi
}

# serve_xstack FILE ARGS...: xstack serve in xs-b owning $B with ARGS, its stdout in FILE
# and its stderr beside it (FILE with .err for .out); returns once it says it is ready,
# or fails (status 1), with a sentence and serve's stderr, when it exits first or is not
# ready within 10 s. HX_TASKSET=CPUS runs it under taskset.
serve_xstack() {
    local out=$1
    shift
    hx_serve SPID "$out" "${out%.out}.err" "$@" \
        || { log "xstack serve $* never became ready"; return 1; }
}

# serve_peer PROTO:PORT CMD...: a kernel server (sockperf, the epoll echo server) in
# xs-b; returns once it listens on PORT, or fails (status 1) with a sentence.
serve_peer() {
    local listen=$1 name
    shift
    name=${1##*/}
    [ "$name" = taskset ] && name=${4##*/} # taskset -c CPUS CMD
    hx_peer SPID "$name" "$HX_NS_B" "$listen" "$OUT/peer.out" "$OUT/peer.err" "$@" \
        || { log "$* never listened on $listen"; return 1; }
}

# serve_floor FILE CMD...: a floor program of bench/floor (afxdp_reflect) in xs-b, its
# stdout in FILE and its stderr beside it (FILE with .err for .out); returns once it
# says "ready" on stderr, or fails (status 1) with a sentence. stop_server stops it.
serve_floor() {
    local out=$1 name
    shift
    name=${1##*/}
    [ "$name" = taskset ] && name=${4##*/} # taskset -c CPUS CMD
    hx_spawn SPID "$name" "$HX_NS_B" "$out" "${out%.out}.err" "$@"
    if ! hx ready "$(_hx_ident "$SPID")" --what "$name" --stdout "$out" --stderr "${out%.out}.err" \
        --timeout "${HX_READY_TIMEOUT:-10}"; then
        _hx_not_ready "$SPID" "$name" || true
        SPID=""
        log "$* never became ready: $(tail -n 2 "${out%.out}.err" 2>/dev/null)"
        return 1
    fi
}

# load_result NAME FILE KEY...: the values at the dotted KEYs of xstack load's JSON report
# in FILE (the last line), on one line; fails, saying why and with the last line of its
# stderr (FILE with .err for .out), when there is no report.
load_result() {
    local name=$1 file=$2
    shift 2
    hx json "$file" "$@" && return 0
    log "xstack load $name gave no result: $(grep -v -E '^lib(bpf|xdp)' "${file%.out}.err" 2>/dev/null | tail -n 1)"
    return 1
}
