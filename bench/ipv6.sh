#!/usr/bin/env bash
# IPv6 against IPv4 in the same run: round-trip time of xstack load (one connection or
# flow, closed loop, busy polling) over each family, paired and alternated round by round
# (the order of the two families flips every round), against
#   - xstack serve owning 198.18.0.2 and 2001:2::2 (UDP echo and TCP echo), and
#   - the kernel's servers on xsb0 (TCP: bench/echo_server.c; UDP: the Python echo
#     server of the tests — the same program for both families, so the ratio is fair
#     even though its absolute time is not the kernel's best).
# Load is pinned to core 0, the server to core 1. Prints a Markdown table of medians and
# of the medians of per-round IPv6/IPv4 ratios, then one JSON object.
#   SECS=3 (per measurement)   ROUNDS=3   DRIVER=xdp|packet
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-3}
DRIVER=${DRIVER:-xdp}
source bench/lib.sh
bench_init ipv6.sh
CLIENT_CPU=0
SERVER_CPU=$(($(nproc) > 1 ? 1 : 0))
gcc -O2 -Wall -o "$OUT/echo_server" bench/echo_server.c
: >"$OUT/results"

# measure SERVER PROTO FAMILY ROUND: one xstack load run; appends a result line.
measure() {
    local server=$1 proto=$2 fam=$3 round=$4 target ip
    if [ "$fam" = v4 ]; then
        target="$B:7"
        ip="$HX_LOADGEN/$HX_PREFIX"
    else
        target="[2001:2::2]:7"
        ip=2001:2::10/64
    fi
    local f="$OUT/$server-$proto-$fam-$round.out"
    HX_TASKSET=$CLIENT_CPU hx_load "$f" "${f%.out}.err" --driver "$DRIVER" --json --ip "$ip" \
        --target "$target" --proto "$proto" --connections 1 --duration "$SECS" --warmup 0.5 \
        --poll busy || { log "load $server $proto $fam failed: $(tail -n 1 "${f%.out}.err")"; return 1; }
    echo "$round $server $proto $fam $(load_result "$server $proto $fam" "$f" latency_us.p50 latency_us.p999 throughput_rps)" >>"$OUT/results"
}

for round in $(seq "$ROUNDS"); do
    order="v4 v6"
    [ $((round % 2)) = 0 ] && order="v6 v4"
    # xstack serve, both families on one serve.
    hx_lab_up
    HX_TASKSET=$SERVER_CPU serve_xstack "$OUT/serve.out" --driver "$DRIVER" --ip 2001:2::2/64 \
        --udp-echo 7 --tcp-echo 7 --poll busy
    for proto in udp tcp; do
        for fam in $order; do measure xstack "$proto" "$fam" "$round"; done
    done
    stop_server
    hx_lab_down
    # The kernel.
    LAB_B_KERNEL=1 hx_lab_up
    serve_peer tcp:7 taskset -c "$SERVER_CPU" "$OUT/echo_server" "::" 7 600
    tcp_pid=$SPID
    serve_peer udp:7 taskset -c "$SERVER_CPU" python3 tests/kernel/udp_echo_server.py "::" 7 600
    for proto in udp tcp; do
        for fam in $order; do measure kernel "$proto" "$fam" "$round"; done
    done
    stop_server
    SPID=$tcp_pid
    stop_server
    hx_lab_down
done

python3 - "$OUT/results" "$SECS" "$ROUNDS" "$DRIVER" <<'PY'
import json, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
out = {"secs": float(sys.argv[2]), "rounds": int(sys.argv[3]), "driver": sys.argv[4], "rows": []}
print(f"| server | proto | IPv4 p50 µs | IPv6 p50 µs | p50 v6/v4 | IPv4 p99.9 µs | IPv6 p99.9 µs | p99.9 v6/v4 |")
print("|---|---|---|---|---|---|---|---|")
for server in ("xstack", "kernel"):
    for proto in ("udp", "tcp"):
        by = {}
        for r, s, p, f, p50, p999, rps in rows:
            if s == server and p == proto:
                by.setdefault(r, {})[f] = (float(p50), float(p999))
        pairs = [v for v in by.values() if "v4" in v and "v6" in v]
        if not pairs:
            continue
        v4p50, v6p50 = med(v["v4"][0] for v in pairs), med(v["v6"][0] for v in pairs)
        v4p999, v6p999 = med(v["v4"][1] for v in pairs), med(v["v6"][1] for v in pairs)
        r50 = med(v["v6"][0] / v["v4"][0] for v in pairs)
        r999 = med(v["v6"][1] / v["v4"][1] for v in pairs)
        print(f"| {server} | {proto} | {v4p50:.2f} | {v6p50:.2f} | {r50:.2f} | {v4p999:.2f} | {v6p999:.2f} | {r999:.2f} |")
        out["rows"].append({"server": server, "proto": proto, "v4_p50_us": v4p50, "v6_p50_us": v6p50,
                            "p50_ratio": r50, "v4_p999_us": v4p999, "v6_p999_us": v6p999,
                            "p999_ratio": r999, "rounds": len(pairs)})
print(json.dumps(out))
PY
