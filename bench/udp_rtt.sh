#!/usr/bin/env bash
# Round-trip time in the veth lab, all in one run: ping and sockperf ping-pong
# (--full-rtt) from the kernel in xs-a against
#   - xstack serve on the xdp driver,
#   - xstack serve on the packet driver,
#   - the kernel's own `sockperf server` (the baseline),
# with the client pinned to core 0 and the server to core 1. Prints a Markdown table,
# then one JSON object, with ratios against the kernel measured in the same run.
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
[ "$(id -u)" = 0 ] || { echo "udp_rtt.sh: needs root (network namespaces, XDP): run with sudo" >&2; exit 1; }
scripts/setup.sh
BIN=target/release/xstack
OUT=$(mktemp -d /tmp/xstack-bench.XXXXXX)
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill -INT "$SPID" 2>/dev/null && sleep 0.5
    scripts/lab.sh down
    rm -rf "$OUT"
}
trap cleanup EXIT
CLIENT_CPU=0
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))

start_server() { # kind
    case "$1" in
    kernel)
        LAB_B_KERNEL=1 scripts/lab.sh up
        ip netns exec xs-b taskset -c "$SERVER_CPU" sockperf server "${TCPFLAG[@]}" -i 198.18.0.2 -p 11111 >/dev/null 2>&1 &
        SPID=$!
        sleep 0.5
        ;;
    xdp | packet)
        scripts/lab.sh up
        ip netns exec xs-b taskset -c "$SERVER_CPU" "$BIN" serve --iface xsb0 --ip 198.18.0.2/24 \
            --driver "$1" --sockperf 11111 --poll busy >"$OUT/serve.out" 2>/dev/null &
        SPID=$!
        for _ in $(seq 100); do grep -q ready "$OUT/serve.out" 2>/dev/null && break; sleep 0.1; done
        ;;
    esac
}

stop_server() {
    kill -INT "$SPID" 2>/dev/null || true
    wait "$SPID" 2>/dev/null || true
    SPID=""
    scripts/lab.sh down
}

measure() { # kind round -> appends "kind ping_avg p50 p99 p999" to $OUT/results
    start_server "$1"
    local ping p
    ping=$(ip netns exec xs-a taskset -c "$CLIENT_CPU" ping -q -c 200 -i 0.005 198.18.0.2 |
        awk -F/ '/rtt/ {print $5}')
    p=$(ip netns exec xs-a taskset -c "$CLIENT_CPU" sockperf ping-pong "${TCPFLAG[@]}" -i 198.18.0.2 -p 11111 \
        -t "$SECS" --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk '
            /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
            /dropped messages/ {split($0,a,"= "); split(a[2],b,";"); drop=b[1]}
            END {print p50, p99, p999, drop}')
    echo "$1 $ping $p" >>"$OUT/results"
    stop_server
}

for r in $(seq "$ROUNDS"); do
    for kind in kernel xdp packet; do
        measure "$kind" "$r"
    done
done

python3 - "$OUT/results" "$SECS" "$ROUNDS" "$PROTO" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    k, ping, p50, p99, p999, drop = line.split()
    rows.setdefault(k, []).append(tuple(map(float, (ping, p50, p99, p999, drop))))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
base = med["kernel"]
names = {"kernel": "kernel sockperf server", "xdp": "xstack serve, xdp", "packet": "xstack serve, packet"}
print(f"{sys.argv[4].upper()} RTT, veth lab, client on core 0, server on core 1, sockperf -t {sys.argv[2]}, "
      f"{sys.argv[3]} round(s), medians; the machine's 2 cores are shared by client and server\n")
print("| server | ping avg (us) | sockperf p50 (us) | p99 (us) | p99.9 (us) | dropped | p50 vs kernel | p99.9 vs kernel |")
print("|---|---|---|---|---|---|---|---|")
out = {}
for k in ("kernel", "xdp", "packet"):
    ping, p50, p99, p999, drop = med[k]
    print(f"| {names[k]} | {ping*1000:.1f} | {p50:.2f} | {p99:.2f} | {p999:.2f} | {drop:.0f} | "
          f"{p50/base[1]:.2f}x | {p999/base[3]:.2f}x |")
    out[k] = {"ping_avg_us": ping * 1000, "p50_us": p50, "p99_us": p99, "p999_us": p999,
              "dropped": drop, "p50_ratio_vs_kernel": p50 / base[1], "p999_ratio_vs_kernel": p999 / base[3]}
print()
print(json.dumps(out))
PY
