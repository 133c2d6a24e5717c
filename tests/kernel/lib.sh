# Shared helpers for the kernel-peer tests. Source it; then call lab_up, serve_start,
# serve_stop, peer_start, and the checks. Each test script takes the driver (xdp|packet)
# as $1. Starting, readiness, stopping and JSON go through tests/harness (harness.sh):
# every process is stopped by the PID recorded when it started. Every wait is bounded;
# what is still running is stopped and the lab torn down on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
source "$ROOT/tests/harness/harness.sh"
BIN=$HX_BIN
KDIR="$ROOT/tests/kernel"
DRIVER=${1:-xdp}
WORK=$(mktemp -d /tmp/xstack-test.XXXXXX)
NAME=$(basename "$0" .sh)
SERVE_PID=""
PEER_PID=""
PEERS=0
A=$HX_A
B=$HX_B
LOADGEN=$HX_LOADGEN

# alive PID: running and not a zombie waiting to be reaped.
alive() { hx_running "$1"; }

log() { echo "[$NAME/$DRIVER] $*" >&2; }
die() { log "FAIL: $*"; [ -s "$WORK/serve.err" ] && sed 's/^/    serve: /' "$WORK/serve.err" | grep -v libbpf >&2; exit 1; }

cleanup() {
    hx_stop_all
    hx_lab_down || true
    rm -rf "$WORK"
}
trap cleanup EXIT

in_a() { ip netns exec "$HX_NS_A" "$@"; }
in_b() { ip netns exec "$HX_NS_B" "$@"; }

lab_up() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP)"
    [ -x "$BIN" ] || die "no $BIN: run scripts/setup.sh first"
    hx_lab_up || die "the lab did not come up"
}

# serve_start ARGS...: xstack serve in xs-b owning 198.18.0.2, waiting for "ready"; the
# test fails, with serve's stderr, if it exits first or is not ready within 10 s.
serve_start() {
    hx_serve SERVE_PID "$WORK/serve.out" "$WORK/serve.err" --driver "$DRIVER" --json "$@" \
        || { log "FAIL: xstack serve $* did not become ready"; exit 1; }
}

# serve_stop: SIGINT, wait (bounded), leave the JSON summary in $WORK/summary.json.
serve_stop() {
    local rc=0
    hx_stop "$SERVE_PID" INT 10 || rc=$?
    [ "$rc" = 3 ] && die "xstack serve did not stop within 10 s of SIGINT"
    [ "$rc" = 0 ] || die "xstack serve (pid $SERVE_PID) could not be stopped"
    [ "$HX_STATUS" = 0 ] || die "xstack serve exited with status $HX_STATUS"
    SERVE_PID=""
    tail -n 1 "$WORK/serve.out" >"$WORK/summary.json"
    hx json "$WORK/summary.json" >/dev/null \
        || die "the summary is not one JSON object: $(cat "$WORK/summary.json")"
    if ip -n "$HX_NS_B" link show "$HX_IF_B" | grep -q prog/xdp; then
        die "an XDP program is still attached to xsb0 after xstack stopped"
    fi
}

# peer_start NS PROTO:PORT CMD...: a kernel peer (sockperf server, a Python echo server)
# run in namespace NS, waiting until it listens on PORT; PEER_PID is its PID. It is
# stopped by peer_stop, or at exit.
peer_start() {
    local ns=$1 listen=$2 name
    shift 2
    PEERS=$((PEERS + 1))
    name=${*//$KDIR\//}
    hx_peer PEER_PID "$name" "$ns" "$listen" "$WORK/peer$PEERS.out" "$WORK/peer$PEERS.err" "$@" \
        || { log "FAIL: the peer '$name' did not start"; exit 1; }
}

# peer_stop PID: SIGTERM, bounded wait, SIGKILL if need be.
peer_stop() { hx_stop "$1" TERM 5 || [ "$?" = 3 ] || die "could not stop the peer (pid $1)"; }

# xstack_load ARGS...: xstack load in xs-a owning $LOADGEN, with the JSON report in
# $WORK/load.out; dies, with the end of its stderr, if it fails.
xstack_load() {
    hx_load "$WORK/load.out" "$WORK/load.err" --driver "$DRIVER" --json "$@" \
        || die "xstack load $* failed: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
}

# xstack_load_status CODE ARGS...: as xstack_load, but the run must exit with status CODE
# (3: completed with no success or too many errors); its JSON report is still read.
xstack_load_status() {
    local want=$1 rc=0
    shift
    hx_load "$WORK/load.out" "$WORK/load.err" --driver "$DRIVER" --json "$@" || rc=$?
    [ "$rc" = "$want" ] \
        || die "xstack load $* exited with $rc, not $want: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
}

# hload ARGS...: as xstack_load, but a run that completed with errors (exit 3) is left
# to the checks that follow, which say which errors.
hload() {
    local rc=0
    hx_load "$WORK/load.out" "$WORK/load.err" --driver "$DRIVER" --json "$@" || rc=$?
    [ "$rc" = 0 ] || [ "$rc" = 3 ] \
        || die "xstack load $* exited with $rc: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
}

# load_json KEY...: values from xstack load's JSON report (dotted keys), on one line.
load_json() { hx json "$WORK/load.out" "$@"; }

# summary KEY: a value from the JSON summary (drops.X for drop reasons).
summary() { hx json "$WORK/summary.json" "$1"; }

pass() { log "ok: $*"; }

# wait_idle SECS: waits (bounded) until serve's live line (it must run with --interval)
# says it holds no TCP connection, e.g. after loss made the last FIN exchanges slow.
wait_idle() {
    for _ in $(seq $(($1 * 10))); do
        tail -n 1 "$WORK/serve.err" 2>/dev/null | grep -q "tcp conns 0 " && return 0
        sleep 0.1
    done
    log "serve still holds TCP connections after $1 s: $(tail -n 1 "$WORK/serve.err")"
}

# expect_all_fin N: after serve_stop, N TCP connections were opened and every one ended
# with the FIN exchange (none reset, none timed out, none left).
expect_all_fin() {
    local opened fin
    opened=$(summary tcp_connections_opened)
    fin=$(summary tcp_closed_fin)
    [ "$opened" = "$1" ] || die "tcp_connections_opened $opened, not $1"
    [ "$fin" = "$opened" ] \
        || die "$opened opened but $fin closed by FIN (rst $(summary tcp_closed_rst), timeout $(summary tcp_closed_timeout))"
    [ "$(summary tcp_connections_left)" = 0 ] \
        || die "$(summary tcp_connections_left) connections left in the table"
}
