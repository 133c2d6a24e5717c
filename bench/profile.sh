#!/usr/bin/env bash
# Where the time goes in the workloads of bench/compare.sh, for the targets it misses.
# For each workload, xstack serve (busy polling, core 1) and xstack load (core 0) run on
# the veth lab under `perf record -a -g`; the script prints the rate, how busy the
# server's worker was (its own batch and TX-kick histograms), and for both workers the
# share of time in the kernel and the top symbols.
#   udp-rtt   UDP ping-pong, 1 flow (sockperf protocol)
#   tcp-rtt   TCP ping-pong, 1 connection
#   udp-tput  UDP ping-pong, 16 flows (the echo-throughput row)
#   crr       TCP connect/request/close, 4 at a time, 15000 connections
#   SECS=3   TOP=8   OUT=DIR (keeps perf.data files)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3}
TOP=${TOP:-8}
source bench/lib.sh
bench_init profile.sh
if ! command -v perf >/dev/null 2>&1 || ! perf --version >/dev/null 2>&1; then
    log "installing linux-perf"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends linux-perf >/dev/null
fi

hx_lab_up
for w in udp-rtt tcp-rtt udp-tput crr; do
    case $w in
    udp-rtt) args=(--target "$B:11111" --proto udp --app sockperf --duration "$SECS") ;;
    tcp-rtt) args=(--target "$B:11111" --proto tcp --app sockperf --duration "$SECS") ;;
    udp-tput) args=(--target "$B:11111" --proto udp --app sockperf --connections 16 --duration "$SECS") ;;
    crr) args=(--target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000) ;;
    esac
    serve_xstack "$OUT/serve-$w.out" --sockperf 11111 --tcp-echo 7 --poll busy --cores 1 --json
    hx_load_argv --poll busy --cores 0 --json "${args[@]}"
    perf record -q -F 2999 -g -a -o "$OUT/$w.data" -- "${HX_ARGV[@]}" 2>/dev/null \
        | tail -1 >"$OUT/load-$w.json"
    stop_server
    echo "== $w"
    hx report profile "$OUT/load-$w.json" "$OUT/serve-$w.out"
    for comm in xstack-q0 xstack-load0; do
        perf report -i "$OUT/$w.data" --comms "$comm" --no-children --percentage relative \
            --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' >"$OUT/$w-$comm.txt" || true
        kern=$(awk '$2 == "[k]" {s += $1} END {printf "%.0f%%", s}' "$OUT/$w-$comm.txt")
        echo "-- $comm: $kern of its samples in the kernel; top symbols:"
        head -n "$TOP" "$OUT/$w-$comm.txt"
    done
done
log "perf data in $OUT"
