#!/usr/bin/env bash
# Round-trip time in the veth lab, all in one run: ping and sockperf ping-pong
# (--full-rtt) from the kernel in xs-a against
#   - xstack serve on the xdp driver,
#   - xstack serve on the packet driver,
#   - the kernel's own `sockperf server` (the baseline),
# with the client pinned to core 0 and the server to core 1. Prints a Markdown table,
# then one JSON object, with ratios against the kernel measured in the same run (each the
# median of the per-round ratios).
#   SECS=5 (sockperf duration per server)   ROUNDS=1 (alternating rounds; medians reported)
#   PROTO=udp|tcp (sockperf over UDP, or over TCP with --tcp on both sides)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
PROTO=${PROTO:-udp}
case "$PROTO" in
udp) TCPFLAG=() ;;
tcp) TCPFLAG=(--tcp) ;;
*) echo "udp_rtt.sh: PROTO must be udp or tcp, not $PROTO" >&2; exit 2 ;;
esac
ROUNDS=${ROUNDS:-1}
source bench/lib.sh
bench_init udp_rtt.sh
CLIENT_CPU=0
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))

start_server() { # kind
    case "$1" in
    kernel)
        LAB_B_KERNEL=1 hx_lab_up
        serve_peer "$PROTO:11111" taskset -c "$SERVER_CPU" sockperf server "${TCPFLAG[@]}" -i "$B" -p 11111
        ;;
    xdp | packet)
        hx_lab_up
        HX_TASKSET=$SERVER_CPU serve_xstack "$OUT/serve.out" --driver "$1" --sockperf 11111 --poll busy
        ;;
    esac
}

measure() { # kind round -> appends "round kind ping_avg p50 p99 p999 dropped" to $OUT/results
    start_server "$1"
    local ping p
    ping=$(ip netns exec xs-a taskset -c "$CLIENT_CPU" ping -q -c 200 -i 0.005 198.18.0.2 |
        awk -F/ '/rtt/ {print $5}')
    p=$(ip netns exec xs-a taskset -c "$CLIENT_CPU" sockperf ping-pong "${TCPFLAG[@]}" -i 198.18.0.2 -p 11111 \
        -t "$SECS" --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk '
            /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
            /dropped messages/ {split($0,a,"= "); split(a[2],b,";"); drop=b[1]}
            END {print p50, p99, p999, drop}')
    echo "$2 $1 $ping $p" >>"$OUT/results"
    stop_server
    hx_lab_down
}

for r in $(seq "$ROUNDS"); do
    for kind in kernel xdp packet; do
        measure "$kind" "$r"
    done
done

hx report udp-rtt "$OUT/results" "$SECS" "$ROUNDS" "$PROTO"
log "raw results in $OUT"
