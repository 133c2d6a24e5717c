#!/usr/bin/env bash
# Scaling with queues: xstack load -> xstack serve on a two-queue veth, with one worker
# (queue 0, one core each side) and with two workers per side (queues 0 and 1, both
# cores): busy polling, adaptive polling, and adaptive with one shared AF_XDP UMEM
# instead of one per queue. Reports the rate of UDP and TCP ping-pong with 16 flows and
# of TCP connect/request/close (bursts of 15000), and how many replies landed on a queue
# whose worker does not own their flow (handed over through the workers' queues).
#
# This host has 2 cores: with two workers a side, four threads share them, so the
# second queue cannot add a core's worth of work here. The script measures what
# happens, not what a bigger host would do.
#   SECS=3 (per run)   ROUNDS=3   OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
source bench/lib.sh
bench_init queues.sh
trap 'stop_server; scripts/lab.sh down' EXIT

# run Q POLL UMEM: serve and load with Q workers each, polling POLL, AF_XDP sockets on
# UMEM per-queue or shared.
run() {
    local q=$1 poll=$2 umem=$3 cores
    cores=$([ "$q" = 1 ] && echo 1 || echo 0-1)
    local lcores
    lcores=$([ "$q" = 1 ] && echo 0 || echo 0-1)
    serve_xstack "$OUT/serve.out" --sockperf 11111 --tcp-echo 7 --queues "$q" --cores "$cores" \
        --poll "$poll" --umem "$umem" --json
    for test in udp tcp crr; do
        local args=(--target "$B:11111" --proto udp --app sockperf --connections 16 --duration "$SECS")
        [ "$test" = tcp ] && args=(--target "$B:11111" --proto tcp --app sockperf --connections 16 --duration "$SECS")
        # Bursts below the port space: one address has 16384 ports to the server's one,
        # so a longer crr run measures TIME_WAIT reuse, not the stacks.
        [ "$test" = crr ] && args=(--target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000)
        ip netns exec xs-a "$BIN" load --iface xsa0 --ip 198.18.0.10/24 --queues "$q" \
            --cores "$lcores" --poll "$poll" --umem "$umem" --json "${args[@]}" 2>/dev/null | tail -1 >"$OUT/last.json" || true
        python3 - "$OUT/last.json" "$test-q$q-$poll-$umem" >>"$OUT/results" <<'PY' || log "$test q$q gave no result"
import json, sys
r = json.load(open(sys.argv[1]))
print(sys.argv[2], r["throughput_rps"], r["latency_us"]["p50"], r["steered_frames"], r["requests"], r["errors"])
PY
    done
    stop_server
}

: >"$OUT/results"
LAB_QUEUES=2 scripts/lab.sh up
for r in $(seq "$ROUNDS"); do
    log "round $r of $ROUNDS"
    run 1 busy per-queue
    run 2 busy per-queue
    run 2 adaptive per-queue
    run 2 adaptive shared
done

python3 - "$OUT" "$SECS" "$ROUNDS" <<'PY'
import os, statistics, sys, datetime
out, secs, rounds = sys.argv[1:4]
rows = {}
for line in open(os.path.join(out, "results")):
    k, *v = line.split()
    rows.setdefault(k, []).append([float(x) for x in v])
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
print(f"bench/queues.sh, {datetime.date.today()}: {rounds} round(s) of {secs} s, medians; "
      "xstack load -> xstack serve on a 2-queue veth, 2-core machine shared by both sides.")
print()
print("| test | workers a side | polling | UMEM | rate (/s) | p50 (us) | vs 1 worker | replies handed over |")
print("|---|---|---|---|---|---|---|---|")
names = {"udp": "UDP ping-pong, 16 flows", "tcp": "TCP ping-pong, 16 connections", "crr": "TCP connect/request/close"}
for t in ("udp", "tcp", "crr"):
    base = med.get(f"{t}-q1-busy-per-queue")
    for q, poll, umem in ((1, "busy", "per-queue"), (2, "busy", "per-queue"),
                          (2, "adaptive", "per-queue"), (2, "adaptive", "shared")):
        m = med.get(f"{t}-q{q}-{poll}-{umem}")
        if not m:
            continue
        rel = f"{m[0] / base[0]:.2f}x" if base and base[0] else ""
        # Frames handed over per completed request (a ping-pong reply is one frame).
        moved = f"{m[2]:.0f} ({m[2] / m[3]:.2f} per request)" if m[3] else f"{m[2]:.0f}"
        print(f"| {names[t]} | {q} | {poll} | {umem} | {m[0]:.0f} | {m[1]:.2f} | {rel} | {moved} |")
PY
log "raw results in $OUT"
