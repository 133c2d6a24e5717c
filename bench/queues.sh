#!/usr/bin/env bash
# Scaling with queues: xstack load -> xstack serve on a two-queue veth, with one worker
# (queue 0, one core each side) and with two workers per side (queues 0 and 1, both
# cores): busy polling, adaptive polling, and adaptive with one shared AF_XDP UMEM
# instead of one per queue. Reports the rate of UDP and TCP ping-pong with 16 flows and
# of TCP connect/request/close (bursts of 15000), and how many frames landed on a queue
# whose worker does not own their flow (handed over through the workers' queues): the
# replies on load's side, the requests on serve's (serve runs afresh for each test).
# XSTACK_SERVE_STEER=peer runs serve with the older TCP ownership (by a hash of the peer,
# not by the queue the SYN arrived on), to compare.
#
# Rates are medians over the rounds; "vs 1 worker" is the median of the per-round ratios.
# This host has 2 cores: with two workers a side, four threads share them, so the
# second queue cannot add a core's worth of work here. The script measures what
# happens, not what a bigger host would do.
#   SECS=3 (per run)   ROUNDS=3   OUT=DIR
#   CONFIGS="1:busy:per-queue 2:busy:per-queue 2:adaptive:per-queue 2:adaptive:shared"
#   XDP_MODE=auto (both sides; on a veth, generic XDP gives every frame to queue 0, so
#   the queue a frame arrives on says nothing: native keeps a peer's TX queue as its RX)
#   (CONFIGS: workers:polling:UMEM; the table's base is the first; two busy workers a side on
#   two cores crawl, so a quicker run leaves that one out)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
XDP_MODE=${XDP_MODE:-auto}
case "$XDP_MODE" in auto | native | generic) ;; *) echo "queues.sh: XDP_MODE is auto, native or generic" >&2; exit 2 ;; esac
CONFIGS=${CONFIGS:-"1:busy:per-queue 2:busy:per-queue 2:adaptive:per-queue 2:adaptive:shared"}
for c in $CONFIGS; do
    case "$c" in
    [12]:busy:per-queue | [12]:busy:shared | [12]:adaptive:per-queue | [12]:adaptive:shared) ;;
    *) echo "queues.sh: each of CONFIGS is workers:polling:umem (1 or 2, busy or adaptive, per-queue or shared), not $c" >&2; exit 2 ;;
    esac
done
source bench/lib.sh
bench_init queues.sh

# run Q POLL UMEM: serve and load with Q workers each, polling POLL, AF_XDP sockets on
# UMEM per-queue or shared.
run() {
    local q=$1 poll=$2 umem=$3 cores
    cores=$([ "$q" = 1 ] && echo 1 || echo 0-1)
    local lcores
    lcores=$([ "$q" = 1 ] && echo 0 || echo 0-1)
    for test in udp tcp crr; do
        serve_xstack "$OUT/serve.out" --sockperf 11111 --tcp-echo 7 --queues "$q" --cores "$cores" \
            --xdp-mode "$XDP_MODE" \
            --poll "$poll" --umem "$umem" --json
        local args=(--target "$B:11111" --proto udp --app sockperf --connections 16 --duration "$SECS")
        [ "$test" = tcp ] && args=(--target "$B:11111" --proto tcp --app sockperf --connections 16 --duration "$SECS")
        # Bursts below the port space: one address has 16384 ports to the server's one,
        # so a longer crr run measures TIME_WAIT reuse, not the stacks.
        [ "$test" = crr ] && args=(--target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000)
        hx_load "$OUT/last.out" "$OUT/last.err" --queues "$q" --cores "$lcores" --poll "$poll" \
            --xdp-mode "$XDP_MODE" \
            --umem "$umem" --json "${args[@]}" || true
        stop_server
        local key=$test-q$q-$poll-$umem vals served
        served=$(hx json "$OUT/serve.out" steered_out) || served=nan
        if vals=$(load_result "$key" "$OUT/last.out" throughput_rps latency_us.p50 steered_frames \
            requests errors); then
            echo "$ROUND $key $vals $served" >>"$OUT/results"
        fi
    done
}

: >"$OUT/results"
LAB_QUEUES=2 hx_lab_up
for ROUND in $(seq "$ROUNDS"); do
    log "round $ROUND of $ROUNDS"
    for c in $CONFIGS; do
        # shellcheck disable=SC2046
        run $(echo "$c" | tr : ' ')
    done
done

log "serve's TCP ownership: ${XSTACK_SERVE_STEER:-arrival}"
hx report queues "$OUT" "$SECS" "$ROUNDS"
log "raw results in $OUT"
