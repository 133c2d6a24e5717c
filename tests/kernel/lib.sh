# Shared helpers for the kernel-peer tests. Source it; then call lab_up, serve_start,
# serve_stop, and the checks. Each test script takes the driver (xdp|packet) as $1.
# Every wait is bounded; the lab is torn down on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN="$ROOT/target/release/xstack"
KDIR="$ROOT/tests/kernel"
DRIVER=${1:-xdp}
WORK=$(mktemp -d /tmp/xstack-test.XXXXXX)
NAME=$(basename "$0" .sh)
SERVE_PID=""
A=198.18.0.1
B=198.18.0.2
LOADGEN=198.18.0.10

# alive PID: running and not a zombie waiting to be reaped.
alive() {
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $st != Z* ]]
}

log() { echo "[$NAME/$DRIVER] $*" >&2; }
die() { log "FAIL: $*"; [ -s "$WORK/serve.err" ] && sed 's/^/    serve: /' "$WORK/serve.err" | grep -v libbpf >&2; exit 1; }

cleanup() {
    if [ -n "$SERVE_PID" ] && alive "$SERVE_PID"; then
        kill -INT "$SERVE_PID" 2>/dev/null || true
        sleep 0.5
        kill -KILL "$SERVE_PID" 2>/dev/null || true
    fi
    pkill -f "xstack-test-peer-$$" 2>/dev/null || true
    "$ROOT/scripts/lab.sh" down
    rm -rf "$WORK"
}
trap cleanup EXIT

in_a() { ip netns exec xs-a "$@"; }
in_b() { ip netns exec xs-b "$@"; }

lab_up() {
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, XDP)"
    [ -x "$BIN" ] || die "no $BIN: run scripts/setup.sh first"
    "$ROOT/scripts/lab.sh" up
}

# serve_start ARGS...: xstack serve in xs-b owning 198.18.0.2, waiting for "ready".
serve_start() {
    # Not through in_b: a backgrounded function is a subshell, and $! must be xstack
    # itself (ip netns exec execs it) for SIGINT to reach it.
    ip netns exec xs-b "$BIN" serve --iface xsb0 --ip "$B/24" --driver "$DRIVER" --json "$@" \
        >"$WORK/serve.out" 2>"$WORK/serve.err" &
    SERVE_PID=$!
    for _ in $(seq 100); do
        grep -q ready "$WORK/serve.out" 2>/dev/null && return 0
        alive "$SERVE_PID" || die "xstack serve exited before ready"
        sleep 0.1
    done
    die "xstack serve not ready after 10 s"
}

# serve_stop: SIGINT, wait (bounded), leave the JSON summary in $WORK/summary.json.
serve_stop() {
    kill -INT "$SERVE_PID"
    for _ in $(seq 100); do
        alive "$SERVE_PID" || break
        sleep 0.1
    done
    alive "$SERVE_PID" && die "xstack serve did not stop within 10 s of SIGINT"
    wait "$SERVE_PID" || die "xstack serve exited with status $?"
    SERVE_PID=""
    tail -n 1 "$WORK/serve.out" >"$WORK/summary.json"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$WORK/summary.json" \
        || die "the summary is not one JSON object: $(cat "$WORK/summary.json")"
    if ip -n xs-b link show xsb0 | grep -q prog/xdp; then
        die "an XDP program is still attached to xsb0 after xstack stopped"
    fi
}

# xstack_load ARGS...: xstack load in xs-a owning $LOADGEN, with the JSON report in
# $WORK/load.out; dies, with the end of its stderr, if it fails.
xstack_load() {
    ip netns exec xs-a "$BIN" load --iface xsa0 --ip "$LOADGEN/24" --driver "$DRIVER" --json \
        "$@" >"$WORK/load.out" 2>"$WORK/load.err" \
        || die "xstack load $* failed: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
}

# summary KEY: a value from the JSON summary (drops.X for drop reasons).
summary() {
    python3 -c '
import json,sys
d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d[k]
print(d)' "$WORK/summary.json" "$1"
}

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
