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
# Runs alternate between the pairs ROUNDS times; medians are reported, and each ratio is
# the median of the per-round ratios (tests/harness/stats.py). Output: a Markdown
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
    hx_lab_down
}

# server KIND: kernel-sockperf | kernel-sockperf-tcp | kernel-echo | xstack
server() {
    stop_all
    case "$1" in
    kernel-sockperf | kernel-sockperf-tcp)
        LAB_B_KERNEL=1 hx_lab_up
        local tcp=() proto=udp
        [ "$1" = kernel-sockperf-tcp ] && tcp=(--tcp) proto=tcp
        serve_peer "$proto:11111" taskset -c "$S" sockperf server "${tcp[@]}" -i "$B" -p 11111 \
            --timeout 0 --nonblocked
        ;;
    kernel-echo)
        LAB_B_KERNEL=1 hx_lab_up
        serve_peer tcp:7 taskset -c "$S" "$OUT/echo_server" "$B" 7 600
        ;;
    xstack)
        hx_lab_up
        serve_xstack "$OUT/serve.out" --sockperf 11111 --tcp-echo 7 --udp-echo 7 --poll busy \
            --cores "$S"
        ;;
    esac
}

# sockperf_pp NAME [--tcp]: busy-polling sockperf ping-pong from xs-a; appends
# "ROUND NAME p50 p99 p999 rate" to results.
sockperf_pp() {
    local name=$1
    shift
    ip netns exec xs-a taskset -c "$C" sockperf ping-pong "$@" -i "$B" -p 11111 -t "$SECS" \
        --timeout 0 --nonblocked --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk -v r="$ROUND" -v k="$name" '
        /ReceivedMessages=/ {match($0, /RunTime=[0-9.]+/); rt=substr($0, RSTART+8, RLENGTH-8);
                             match($0, /ReceivedMessages=[0-9]+/); n=substr($0, RSTART+17, RLENGTH-17)}
        /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
        END {if (p50 == "") exit 1; print r, k, p50, p99, p999, n/rt}' >>"$OUT/results" \
        || log "sockperf $name gave no result"
}

# xload NAME ARGS...: xstack load from xs-a (core 0, busy); appends
# "ROUND NAME p50 p99 p999 rate errors" to results and keeps the HdrHistogram log.
xload() {
    local name=$1 vals
    shift
    hx_load "$OUT/last.out" "$OUT/last.err" --poll busy --cores "$C" --json \
        --hdr-log "$OUT/$name.hlog" "$@" || true
    if vals=$(load_result "$name" "$OUT/last.out" latency_us.p50 latency_us.p99 latency_us.p999 \
        throughput_rps errors); then
        echo "$ROUND $name $vals" >>"$OUT/results"
    fi
}

: >"$OUT/results"
for ROUND in $(seq "$ROUNDS"); do
    log "round $ROUND of $ROUNDS"
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

update=()
[ "$UPDATE_DOCS" = 1 ] && update=(--update-docs)
hx report compare "$OUT" "$SECS" "$ROUNDS" "${update[@]}"
log "raw results, logs and the plot are in $OUT"
