#!/usr/bin/env bash
# xstack against the kernel's own stack on the same veth link, in one invocation, with
# ratios measured in the same run. Client pinned to core 0, server to core 1 (this host
# has 2 cores, shared by client and server: the numbers say so).
#
#   1. UDP ping-pong RTT, 64 B: kernel<->kernel (sockperf both sides, busy-polling),
#      sockperf client -> xstack serve, xstack load -> xstack serve, and sockperf client
#      -> xstack serve --reflect-in-xdp (answered in xstack's XDP program, natively, as
#      the XDP_TX floor reflector is: that reflector is its floor).
#   2. TCP ping-pong RTT: the same three pairs over TCP.
#   3. Echo throughput of one server core: xstack load with 16 flows (closed loop, so no
#      loss) against the kernel's sockperf server and against xstack serve.
#   4. TCP connect/request/close rate: xstack load --mode crr against a kernel epoll echo
#      server (bench/echo_server.c) and against xstack serve.
#   5. Load-generator rate on one core: sockperf's client (busy-polling) and xstack load,
#      both against the kernel's sockperf server.
#   6. Micro-benchmarks (cargo bench --bench micro).
#
# And the floor of this testbed (docs/floor.md), measured in the same rounds: the thinnest
# programs that can answer or drive the same veth on the same cores, built here from
# bench/floor — an XDP_TX reflector (no user space at all), a minimal AF_XDP reflector and
# a minimal AF_XDP client (afxdp_client):
#   7. UDP RTT: the sockperf client against both reflectors; the minimal client against
#      both reflectors, xstack serve and the kernel's sockperf server; xstack load
#      against the minimal AF_XDP reflector.
#   8. Echo throughput of one server core with 16 flows, xstack load and the minimal
#      client each against the kernel's sockperf server, the minimal AF_XDP reflector
#      and xstack serve (the minimal client also against the XDP_TX reflector and xstack
#      serve --reflect-in-xdp), each
#      server started afresh so that its own busy counter (busy_s) covers that run
#      alone, beside the client's: which side saturated.
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
bench/floor/build.sh "$OUT/floor"
FLOOR=$OUT/floor
C=0
S=$(($(nproc) > 1 ? 1 : 0))
stop_all() {
    stop_server
    hx_lab_down
}

# pass_on / pass_off: an XDP_PASS program on xsa0, natively. veth delivers what xsb0 sends
# with XDP_TX only while xsa0 runs NAPI, which an XDP program there switches on (lab.sh
# turns GRO, the other switch, off); the AF_XDP client and xstack load attach their own.
pass_on() { ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv obj "$FLOOR/xdp_pass.bpf.o" sec xdp; }
pass_off() { ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv off; }

# server KIND: kernel-sockperf | kernel-sockperf-tcp | kernel-echo | xstack |
# xstack-reflect (serve --reflect-in-xdp, its program attached natively like the XDP_TX
# reflector's, xdp_pass on xsa0) |
# xdp-tx (bench/floor/xdp_reflect.bpf.c on xsb0, xdp_pass on xsa0) |
# afxdp (bench/floor/afxdp_reflect on xsb0). The floor reflectors leave ARP to the kernel,
# which so owns the server's address.
server() {
    stop_all
    SERVER=$1
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
            --cores "$S" --json
        ;;
    xstack-reflect)
        hx_lab_up
        serve_xstack "$OUT/serve.out" --sockperf 11111 --tcp-echo 7 --udp-echo 7 --poll busy \
            --cores "$S" --json --reflect-in-xdp --xdp-mode native
        pass_on
        ;;
    xdp-tx)
        LAB_B_KERNEL=1 hx_lab_up
        ip -n "$HX_NS_B" link set dev "$HX_IF_B" xdpdrv obj "$FLOOR/xdp_reflect.bpf.o" sec xdp
        pass_on
        ;;
    afxdp)
        LAB_B_KERNEL=1 hx_lab_up
        serve_floor "$OUT/reflect.out" taskset -c "$S" "$FLOOR/afxdp_reflect" "$HX_IF_B" \
            "$FLOOR/xsk_redirect.bpf.o"
        ;;
    esac
}

# server_busy: after stop_server, the busy seconds per second of load (SECS) of the
# server that ran: its own counter (xstack serve's busy_s, afxdp_reflect's busy_s); 0 for
# the XDP_TX reflector (no user space: its work is softirq time on the client's core);
# nothing for the kernel's sockperf server, which counts no such thing.
server_busy() {
    local b
    case "$SERVER" in
    xstack | xstack-reflect) b=$(hx json "$OUT/serve.out" busy_s) || return 1 ;;
    afxdp) b=$(hx json "$OUT/reflect.out" busy_s) || return 1 ;;
    xdp-tx) b=0 ;;
    *) return 1 ;;
    esac
    awk -v b="$b" -v s="$SECS" 'BEGIN {printf "%.4f\n", b / s}'
}

# mac_b: xsb0's MAC address (the minimal client's destination).
mac_b() {
    ip -n "$HX_NS_B" -o link show "$HX_IF_B" | awk '{for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1)}'
}

# sockperf_pp NAME [--tcp]: busy-polling sockperf ping-pong from xs-a, 64-byte messages
# (-m 64: sockperf's default is 14 bytes; xstack load and the minimal client send 64);
# appends "ROUND NAME p50 p99 p999 rate" to results.
sockperf_pp() {
    local name=$1
    shift
    ip netns exec xs-a taskset -c "$C" sockperf ping-pong "$@" -i "$B" -p 11111 -m 64 -t "$SECS" \
        --timeout 0 --nonblocked --full-rtt 2>&1 | sed 's/\x1b\[[0-9;]*m//g' | awk -v r="$ROUND" -v k="$name" '
        /ReceivedMessages=/ {match($0, /RunTime=[0-9.]+/); rt=substr($0, RSTART+8, RLENGTH-8);
                             match($0, /ReceivedMessages=[0-9]+/); n=substr($0, RSTART+17, RLENGTH-17)}
        /percentile 50.000/ {p50=$NF} /percentile 99.000/ {p99=$NF} /percentile 99.900/ {p999=$NF}
        END {if (p50 == "") exit 1; print r, k, p50, p99, p999, n/rt}' >>"$OUT/results" \
        || log "sockperf $name gave no result"
}

# xload NAME ARGS...: xstack load from xs-a (core 0, busy); appends
# "ROUND NAME p50 p99 p999 rate errors client-busy" to results (client-busy: its
# busy_s / run_s) and keeps the HdrHistogram log. With TPUT=1 the server's busy
# fraction follows (server_busy, after the server is stopped).
xload() {
    local name=$1 vals
    shift
    hx_load "$OUT/last.out" "$OUT/last.err" --poll busy --cores "$C" --json \
        --hdr-log "$OUT/$name.hlog" "$@" || true
    if vals=$(load_result "$name" "$OUT/last.out" latency_us.p50 latency_us.p99 latency_us.p999 \
        throughput_rps errors busy_s run_s); then
        record "$name" "$(echo "$vals" | awk '{printf "%s %s %s %s %s %.4f", $1, $2, $3, $4, $5, ($7 > 0 ? $6 / $7 : 0)}')"
    fi
}

# fclient NAME FLOWS: the minimal AF_XDP client (bench/floor/afxdp_client) from xs-a
# (core 0), sockperf requests to $B:11111 from the kernel's own address in xs-a, FLOWS
# in flight; appends "ROUND NAME p50 p99 p999 rate lost client-busy" like xload.
fclient() {
    local name=$1 flows=$2 vals mac
    mac=$(mac_b)
    # It attaches its own XDP program to xsa0 (which keeps NAPI on for XDP_TX too).
    case "$SERVER" in xdp-tx | xstack-reflect) pass_off ;; esac
    ip netns exec "$HX_NS_A" taskset -c "$C" "$FLOOR/afxdp_client" --iface "$HX_IF_A" \
        --bpf "$FLOOR/xsk_redirect.bpf.o" --src "$HX_A" --dst "$B" --dst-mac "$mac" --port 11111 \
        --flows "$flows" --secs "$SECS" >"$OUT/fclient.out" 2>"$OUT/fclient.err" </dev/null || true
    if vals=$(hx json "$OUT/fclient.out" latency_us.p50 latency_us.p99 latency_us.p999 \
        throughput_rps lost busy_s run_s 2>/dev/null); then
        record "$name" "$(echo "$vals" | awk '{printf "%s %s %s %s %s %.4f", $1, $2, $3, $4, $5, ($7 > 0 ? $6 / $7 : 0)}')"
    else
        log "afxdp_client $name gave no result: $(tail -n 1 "$OUT/fclient.err" 2>/dev/null)"
    fi
}

# record NAME VALUES: one line of results; with TPUT=1 held back until tput_done adds
# the server's busy fraction.
record() {
    if [ "${TPUT:-0}" = 1 ]; then
        HELD="$ROUND $1 $2"
    else
        echo "$ROUND $1 $2" >>"$OUT/results"
    fi
}

# tput KIND CLIENT NAME ARGS...: a fresh server KIND for one throughput run of CLIENT
# (xload or fclient) NAME ARGS, then the run's line with the server's busy fraction.
tput() {
    local kind=$1 busy
    shift
    server "$kind" || return 0
    HELD="" TPUT=1
    "$@"
    TPUT=0
    stop_server
    [ -n "$HELD" ] || return 0
    if busy=$(server_busy 2>/dev/null); then
        echo "$HELD $busy" >>"$OUT/results"
    else
        echo "$HELD" >>"$OUT/results"
    fi
}

: >"$OUT/results"
for ROUND in $(seq "$ROUNDS"); do
    log "round $ROUND of $ROUNDS"
    server kernel-sockperf
    sockperf_pp udp-kernel-kernel
    xload udp-load-kernel --target "$B:11111" --proto udp --app sockperf --duration "$SECS"
    fclient udp-fclient-kernel 1
    tput kernel-sockperf xload udp-tput-kernel --target "$B:11111" --proto udp --app sockperf \
        --connections 16 --duration "$SECS"
    tput kernel-sockperf fclient udp-ftput-kernel 16
    server xdp-tx
    sockperf_pp udp-sockperf-xdptx
    fclient udp-fclient-xdptx 1
    tput xdp-tx fclient udp-ftput-xdptx 16
    server afxdp
    sockperf_pp udp-sockperf-afxdp
    fclient udp-fclient-afxdp 1
    xload udp-load-afxdp --target "$B:11111" --proto udp --app sockperf --duration "$SECS"
    tput afxdp xload udp-tput-afxdp --target "$B:11111" --proto udp --app sockperf \
        --connections 16 --duration "$SECS"
    tput afxdp fclient udp-ftput-afxdp 16
    server xstack
    sockperf_pp udp-sockperf-xstack
    fclient udp-fclient-xstack 1
    xload udp-load-xstack --target "$B:11111" --proto udp --app sockperf --duration "$SECS"
    sockperf_pp tcp-sockperf-xstack --tcp
    xload tcp-load-xstack --target "$B:11111" --proto tcp --app sockperf --duration "$SECS"
    xload crr-xstack --target "$B:7" --proto tcp --mode crr --connections 4 --requests 15000
    tput xstack xload udp-tput-xstack --target "$B:11111" --proto udp --app sockperf \
        --connections 16 --duration "$SECS"
    tput xstack fclient udp-ftput-xstack 16
    server xstack-reflect
    sockperf_pp udp-sockperf-xreflect
    fclient udp-fclient-xreflect 1
    tput xstack-reflect fclient udp-ftput-xreflect 16
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
