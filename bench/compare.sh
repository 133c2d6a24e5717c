#!/usr/bin/env bash
# xstack against the kernel's own stack on the same veth link, in one invocation, with
# ratios measured in the same run. Client pinned to core 0, server to core 1 (this host
# has 2 cores, shared by client and server: the numbers say so).
#
#   1. UDP ping-pong RTT, 64 B: kernel<->kernel (sockperf both sides, busy-polling),
#      sockperf client -> xstack serve, xstack load -> xstack serve.
#   2. TCP ping-pong RTT: the same three pairs over TCP.
#   3. Echo throughput of one server core: xstack load with 16 flows (closed loop, so no
#      loss) against the kernel's sockperf server and against xstack serve.
#   4. TCP connect/request/close rate: xstack load --mode crr against a kernel epoll echo
#      server (bench/echo_server.c) and against xstack serve.
#   5. Load-generator rate on one core: sockperf's client (busy-polling) and xstack load,
#      both against the kernel's sockperf server.
#   6. Micro-benchmarks (cargo bench --bench micro).
#
# Runs alternate between the pairs ROUNDS times; medians are reported. Output: a Markdown
# table and one JSON object on stdout, an SVG percentile plot, and with --update-docs the
# section of docs/performance.md between its compare.sh markers.
#   SECS=5 (per run)   ROUNDS=3   OUT=DIR (keep the raw results there)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
UPDATE_DOCS=0
for a in "$@"; do
    case "$a" in
    --update-docs) UPDATE_DOCS=1 ;;
    *) echo "compare.sh: unknown option $a (usage: bench/compare.sh [--update-docs])" >&2; exit 2 ;;
    esac
done
source bench/lib.sh
bench_init compare.sh
gcc -O2 -Wall -o "$OUT/echo_server" bench/echo_server.c
C=0
S=$(($(nproc) > 1 ? 1 : 0))
stop_all() {
    stop_server
    scripts/lab.sh down
}
trap stop_all EXIT

# server KIND: kernel-sockperf | kernel-sockperf-tcp | kernel-echo | xstack
server() {
    stop_all
    case "$1" in
    kernel-sockperf | kernel-sockperf-tcp)
        LAB_B_KERNEL=1 scripts/lab.sh up
        local tcp=()
        [ "$1" = kernel-sockperf-tcp ] && tcp=(--tcp)
        ip netns exec xs-b taskset -c "$S" sockperf server "${tcp[@]}" -i "$B" -p 11111 \
            --timeout 0 --nonblocked >/dev/null 2>&1 &
        SPID=$!
        sleep 0.5
        ;;
    kernel-echo)
        LAB_B_KERNEL=1 scripts/lab.sh up
        ip netns exec xs-b taskset -c "$S" "$OUT/echo_server" "$B" 7 600 &
        SPID=$!
        sleep 0.3
        ;;
    xstack)
        scripts/lab.sh up
        serve_xstack "$OUT/serve.out" --sockperf 11111 --tcp-echo 7 --udp-echo 7 --poll busy \
            --cores "$S"
        ;;
    esac
}

# sockperf_pp NAME [--tcp]: busy-polling sockperf ping-pong from xs-a; appends
# "NAME p50 p99 p999 rate" to results.
sockperf_pp() {
    local name=$1
    shift
    ip netns exec xs-a taskset -c "$C" sockperf ping-pong "$@" -i "$B" -p 11111 -t "$SECS" \
        --timeout 0 --nonblocked --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk -v k="$name" '
        /ReceivedMessages=/ {match($0, /RunTime=[0-9.]+/); rt=substr($0, RSTART+8, RLENGTH-8);
                             match($0, /ReceivedMessages=[0-9]+/); n=substr($0, RSTART+17, RLENGTH-17)}
        /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
        END {if (p50 == "") exit 1; print k, p50, p99, p999, n/rt}' >>"$OUT/results" \
        || log "sockperf $name gave no result"
}

# xload NAME ARGS...: xstack load from xs-a (core 0, busy); appends
# "NAME p50 p99 p999 rate errors" to results and keeps the HdrHistogram log.
xload() {
    local name=$1
    shift
    ip netns exec xs-a "$BIN" load --iface xsa0 --ip 198.18.0.10/24 --poll busy --cores "$C" \
        --json --hdr-log "$OUT/$name.hlog" "$@" 2>/dev/null | tail -1 >"$OUT/last.json" || true
    python3 - "$OUT/last.json" "$name" >>"$OUT/results" <<'PY' || log "xstack load $name gave no result"
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_us"]
print(sys.argv[2], l["p50"], l["p99"], l["p999"], r["throughput_rps"], r["errors"])
PY
}

: >"$OUT/results"
for r in $(seq "$ROUNDS"); do
    log "round $r of $ROUNDS"
    server kernel-sockperf
    sockperf_pp udp-kernel-kernel
    xload udp-load-kernel --target "$B:11111" --proto udp --app sockperf --duration "$SECS"
    xload udp-tput-kernel --target "$B:11111" --proto udp --app sockperf --connections 16 --duration "$SECS"
    server xstack
    sockperf_pp udp-sockperf-xstack
    xload udp-load-xstack --target "$B:11111" --proto udp --app sockperf --duration "$SECS"
    xload udp-tput-xstack --target "$B:11111" --proto udp --app sockperf --connections 16 --duration "$SECS"
    sockperf_pp tcp-sockperf-xstack --tcp
    xload tcp-load-xstack --target "$B:11111" --proto tcp --app sockperf --duration "$SECS"
    xload crr-xstack --target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000
    server kernel-sockperf-tcp
    sockperf_pp tcp-kernel-kernel --tcp
    xload tcp-load-kernel --target "$B:11111" --proto tcp --app sockperf --duration "$SECS"
    server kernel-echo
    xload crr-kernel --target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000
    stop_all
done

log "micro-benchmarks"
cargo bench --bench micro 2>/dev/null | grep -E 'ns/op| B$' >"$OUT/micro.txt" || true

"$BIN" plot "$OUT/udp-load-kernel.hlog" "$OUT/udp-load-xstack.hlog" "$OUT/tcp-load-kernel.hlog" \
    "$OUT/tcp-load-xstack.hlog" -o "$OUT/compare.svg" 2>/dev/null || log "no plot"

python3 - "$OUT" "$SECS" "$ROUNDS" "$UPDATE_DOCS" <<'PY'
import json, os, statistics, sys, datetime
out, secs, rounds, update = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
rows = {}
for line in open(os.path.join(out, "results")):
    k, *v = line.split()
    rows.setdefault(k, []).append([float(x) for x in v])
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
def get(k, i):
    return med[k][i] if k in med else float("nan")
def ratio(a, b):
    return a / b if b and b == b else float("nan")
lines = []
p = lines.append
p(f"bench/compare.sh, {datetime.date.today()}: {rounds} round(s) of {secs} s, medians. "
  "veth lab; client on core 0, server on core 1 of a 2-core machine that they share.")
p("")
p("| test | pair | p50 (us) | p99 (us) | p99.9 (us) | rate (/s) | p50 vs kernel | p99.9 vs kernel |")
p("|---|---|---|---|---|---|---|---|")
for proto in ("udp", "tcp"):
    base = f"{proto}-kernel-kernel"
    for k, label in ((base, "kernel <-> kernel (sockperf both, busy-polling)"),
                     (f"{proto}-sockperf-xstack", "sockperf client -> xstack serve"),
                     (f"{proto}-load-xstack", "xstack load -> xstack serve"),
                     (f"{proto}-load-kernel", "xstack load -> kernel sockperf server")):
        p(f"| {proto.upper()} ping-pong 64 B | {label} | {get(k,0):.2f} | {get(k,1):.2f} | {get(k,2):.2f} | "
          f"{get(k,3):.0f} | {ratio(get(k,0), get(base,0)):.2f}x | {ratio(get(k,2), get(base,2)):.2f}x |")
tk, tx = get("udp-tput-kernel", 3), get("udp-tput-xstack", 3)
p(f"| UDP echo throughput, one server core | kernel sockperf server | | | | {tk:.0f} | | |")
p(f"| UDP echo throughput, one server core | xstack serve | | | | {tx:.0f} | {ratio(tx, tk):.2f}x the kernel | |")
ck, cx = get("crr-kernel", 3), get("crr-xstack", 3)
p(f"| TCP connect/request/close | kernel epoll echo server | {get('crr-kernel',0):.2f} | {get('crr-kernel',1):.2f} | {get('crr-kernel',2):.2f} | {ck:.0f} | | |")
p(f"| TCP connect/request/close | xstack serve | {get('crr-xstack',0):.2f} | {get('crr-xstack',1):.2f} | {get('crr-xstack',2):.2f} | {cx:.0f} | {ratio(cx, ck):.2f}x the kernel | |")
sk, xl = get("udp-kernel-kernel", 3), get("udp-load-kernel", 3)
p(f"| load generator, one core, 1 flow | sockperf client (busy) -> kernel server | | | | {sk:.0f} | | |")
p(f"| load generator, one core, 1 flow | xstack load -> kernel server | | | | {xl:.0f} | {ratio(xl, sk):.2f}x sockperf | |")
p(f"| load generator, one core, 16 flows | xstack load -> kernel server | | | | {tk:.0f} | {ratio(tk, sk):.2f}x sockperf | |")
p("")
micro = open(os.path.join(out, "micro.txt")).read().strip() if os.path.exists(os.path.join(out, "micro.txt")) else ""
if micro:
    p("Micro-benchmarks (`cargo bench --bench micro`):")
    p("")
    p("```")
    p(micro)
    p("```")
md = "\n".join(lines)
print(md)
print()
print(json.dumps({"secs": float(secs), "rounds": int(rounds), "medians": med}))
if update:
    path = "docs/performance.md"
    doc = open(path).read()
    begin, end = "<!-- compare.sh begin -->", "<!-- compare.sh end -->"
    block = f"{begin}\n{md}\n\nPlot: `{out}/compare.svg` (xstack load against the kernel's and xstack's servers, UDP and TCP).\n{end}"
    if begin in doc and end in doc:
        doc = doc[:doc.index(begin)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n## bench/compare.sh: xstack against the kernel\n\n" + block + "\n"
    open(path, "w").write(doc)
PY
log "raw results, logs and the plot are in $OUT"
