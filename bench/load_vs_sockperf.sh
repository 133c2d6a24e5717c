#!/usr/bin/env bash
# The load generator against sockperf's own client, both measuring the same kernel
# `sockperf server` in the same run: ping-pong percentiles of one flow (sockperf both
# blocking, its default, and busy-polling with --timeout 0 --nonblocked), and the
# highest request rate with 1 and 16 flows. Client on core 0, server on core 1.
#   SECS=5   ROUNDS=3 (alternating; medians)   PROTO=udp|tcp
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
PROTO=${PROTO:-udp}
case "$PROTO" in
udp) TCPFLAG=() ;;
tcp) TCPFLAG=(--tcp) ;;
*) echo "load_vs_sockperf.sh: PROTO must be udp or tcp, not $PROTO" >&2; exit 2 ;;
esac
source bench/lib.sh
bench_init load_vs_sockperf.sh
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))
LAB_B_KERNEL=1 hx_lab_up
serve_peer "$PROTO:11111" taskset -c "$SERVER_CPU" sockperf server "${TCPFLAG[@]}" -i "$B" -p 11111
: >"$OUT/res"
for r in $(seq "$ROUNDS"); do
    for mode in blocking busy; do
        busy=()
        [ "$mode" = busy ] && busy=(--timeout 0 --nonblocked)
        ip netns exec xs-a taskset -c 0 sockperf ping-pong "${TCPFLAG[@]}" "${busy[@]}" -i 198.18.0.2 \
            -p 11111 -t "$SECS" --full-rtt 2>&1 |
            sed 's/\x1b\[[0-9;]*m//g' | awk -v r="$r" -v k="sockperf-$mode" '
                /ReceivedMessages=/ {match($0, /RunTime=[0-9.]+/); rt=substr($0, RSTART+8, RLENGTH-8);
                                     match($0, /ReceivedMessages=[0-9]+/); n=substr($0, RSTART+17, RLENGTH-17)}
                /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
                END {print r, k, p50, p99, p999, n/rt}' >>"$OUT/res"
    done
    # sockperf's TCP server serves one connection at a time (it blocks in recvfrom on
    # one socket, and its listen queue overflows): over TCP only one flow is meaningful.
    flows=(1 16)
    [ "$PROTO" = tcp ] && flows=(1)
    for c in "${flows[@]}"; do
        HX_TASKSET=0 hx_load "$OUT/last.out" "$OUT/last.err" --target "$B:11111" --proto "$PROTO" \
            --app sockperf --size 64 --connections "$c" --duration "$SECS" --poll busy --json || true
        if vals=$(load_result "xstack-$c" "$OUT/last.out" latency_us.p50 latency_us.p99 \
            latency_us.p999 throughput_rps errors); then
            echo "$r xstack-$c $vals" >>"$OUT/res"
        fi
    done
done
hx report load-vs-sockperf "$OUT/res" "$SECS" "$ROUNDS" "$PROTO"
log "raw results in $OUT"
