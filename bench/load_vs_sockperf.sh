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
[ "$(id -u)" = 0 ] || { echo "load_vs_sockperf.sh: needs root: run with sudo" >&2; exit 1; }
scripts/setup.sh
BIN=target/release/xstack
OUT=$(mktemp -d /tmp/xstack-bench.XXXXXX)
trap 'pkill -f "sockperf server -i 198.18.0.2" || true; scripts/lab.sh down; rm -rf "$OUT"' EXIT
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))
LAB_B_KERNEL=1 scripts/lab.sh up
ip netns exec xs-b taskset -c "$SERVER_CPU" sockperf server "${TCPFLAG[@]}" -i 198.18.0.2 -p 11111 >/dev/null 2>&1 &
sleep 0.5
for r in $(seq "$ROUNDS"); do
    for mode in blocking busy; do
        busy=()
        [ "$mode" = busy ] && busy=(--timeout 0 --nonblocked)
        ip netns exec xs-a taskset -c 0 sockperf ping-pong "${TCPFLAG[@]}" "${busy[@]}" -i 198.18.0.2 \
            -p 11111 -t "$SECS" --full-rtt 2>&1 |
            sed 's/\x1b\[[0-9;]*m//g' | awk -v k="sockperf-$mode" '
                /ReceivedMessages=/ {match($0, /RunTime=[0-9.]+/); rt=substr($0, RSTART+8, RLENGTH-8);
                                     match($0, /ReceivedMessages=[0-9]+/); n=substr($0, RSTART+17, RLENGTH-17)}
                /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
                END {print k, p50, p99, p999, n/rt}' >>"$OUT/res"
    done
    # sockperf's TCP server serves one connection at a time (it blocks in recvfrom on
    # one socket, and its listen queue overflows): over TCP only one flow is meaningful.
    flows=(1 16)
    [ "$PROTO" = tcp ] && flows=(1)
    for c in "${flows[@]}"; do
        ip netns exec xs-a taskset -c 0 "$BIN" load --iface xsa0 --ip 198.18.0.10/24 \
            --target 198.18.0.2:11111 --proto "$PROTO" --app sockperf --size 64 --connections "$c" \
            --duration "$SECS" --poll busy --json 2>/dev/null | tail -1 |
            python3 -c "import json,sys; r=json.load(sys.stdin); l=r['latency_us']; print('xstack-$c', l['p50'], l['p99'], l['p999'], r['throughput_rps'], r['errors'])" >>"$OUT/res"
    done
done
python3 - "$OUT/res" "$SECS" "$ROUNDS" "$PROTO" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, *v = line.split()
    rows.setdefault(k, []).append([float(x) for x in v[:4]])
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
print(f"{sys.argv[4].upper()} ping-pong against the kernel's sockperf server (64 B), {sys.argv[2]} s x {sys.argv[3]} rounds, medians;"
      " client core 0, server core 1, on a shared 2-core machine\n")
print("| client | flows | p50 (us) | p99 (us) | p99.9 (us) | requests/s |")
print("|---|---|---|---|---|---|")
for k, label, flows in (("sockperf-blocking", "sockperf ping-pong", 1),
                        ("sockperf-busy", "sockperf ping-pong --timeout 0 --nonblocked", 1),
                        ("xstack-1", "xstack load --app sockperf", 1),
                        ("xstack-16", "xstack load --app sockperf", 16)):
    if k not in med:
        continue
    p50, p99, p999, rate = med[k]
    print(f"| {label} | {flows} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {rate:.0f} |")
print()
print(json.dumps(med))
PY
