#!/usr/bin/env bash
# The main job end to end: build, bring up the veth lab, run xstack serve in xs-b, drive it
# from the kernel in xs-a with ping, UDP echo, TCP echo and a sockperf ping-pong; then
# the load generator: xstack load against xstack serve and against the kernel's own
# sockperf server, with sockperf's own client on the same server beside it; show the
# percentile tables and xstack's summary, leave the reports (JSON, HdrHistogram logs,
# plots) in a folder it names, and tear the lab down (also on Ctrl-C or failure).
#   DRIVER=xdp|packet|auto (default auto)   SECS=3 (each measured run)
set -euo pipefail
cd "$(dirname "$0")/.."
DRIVER=${DRIVER:-auto}
SECS=${SECS:-3}

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: the lab needs root (network namespaces, XDP): run it with sudo, or as root where sudo is absent" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PID=""
SPID=""
OUT=$(mktemp -d /tmp/xstack-demo.XXXXXX)
RESULTS=$(mktemp -d /tmp/xstack-demo-results.XXXXXX)
cleanup() {
    [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null && sleep 0.5
    [ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && sleep 0.2
    scripts/lab.sh down
    rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "setup: dependencies and release build"
scripts/setup.sh

say "lab: xs-a (kernel, 198.18.0.1 on xsa0) <-veth-> xs-b (xstack owns 198.18.0.2 on xsb0)"
scripts/lab.sh up

say "xstack serve --driver $DRIVER --udp-echo 7 --tcp-echo 7 --sockperf 11111"
ip netns exec xs-b target/release/xstack serve --iface xsb0 --ip 198.18.0.2/24 \
    --driver "$DRIVER" --udp-echo 7 --tcp-echo 7 --sockperf 11111 >"$OUT/serve.out" 2>"$OUT/serve.err" &
PID=$!
for _ in $(seq 100); do grep -q ready "$OUT/serve.out" && break; sleep 0.1; done
grep -v -E '^libbpf|^libxdp' "$OUT/serve.err" || true
grep ready "$OUT/serve.out" || { echo "xstack did not start"; exit 1; }

say "ping from the kernel"
ip netns exec xs-a ping -c 5 -i 0.2 198.18.0.2

say "UDP echo from the kernel (socat)"
reply=$(echo "hello from the kernel's UDP" | ip netns exec xs-a timeout 3 socat -T 2 - UDP:198.18.0.2:7)
echo "sent:  hello from the kernel's UDP"
echo "reply: $reply"

say "TCP echo from the kernel's TCP (nc): handshake, data, half-close, FIN"
reply=$(echo "hello from the kernel's TCP" | ip netns exec xs-a timeout 3 nc -N 198.18.0.2 7)
echo "sent:  hello from the kernel's TCP"
echo "reply: $reply"

say "sockperf ping-pong, 3 s"
ip netns exec xs-a sockperf ping-pong -i 198.18.0.2 -p 11111 -t 3 --full-rtt 2>&1 |
    grep -E 'Summary|dropped|percentile (50\.000|99\.000|99\.900|99\.990) |MAX|MIN' | sed 's/\x1b\[[0-9;]*m//g'

# load NAME ARGS...: xstack load in xs-a (owning 198.18.0.10), its JSON report, interval
# log and plot in $RESULTS/NAME.*; the live lines show on the terminal.
load() {
    local name=$1
    shift
    ip netns exec xs-a target/release/xstack load --iface xsa0 --ip 198.18.0.10/24 \
        --driver "$DRIVER" --duration "$SECS" --interval 1 --json \
        --hdr-log "$RESULTS/$name.hlog" --plot "$RESULTS/$name.svg" "$@" \
        >"$RESULTS/$name.json" 2> >(grep -v -E '^libbpf|^libxdp' >&2)
}
hx() { PYTHONPATH=tests python3 -m harness "$@"; }

say "xstack load -> xstack serve: UDP sockperf ping-pong, ${SECS} s (the load generator on the stack)"
load load-xstack-serve --target 198.18.0.2:11111 --proto udp --app sockperf
echo "$(hx json "$RESULTS/load-xstack-serve.json" requests) requests," \
    "$(hx json "$RESULTS/load-xstack-serve.json" throughput_rps | cut -d. -f1) req/s"

say "xstack's summary (after SIGINT)"
kill -INT "$PID"
wait "$PID" || true
PID=""
grep -v ready "$OUT/serve.out"

say "the kernel takes 198.18.0.2 and runs sockperf's own server; sockperf's client and xstack load measure it"
ip -n xs-b addr add 198.18.0.2/24 dev xsb0
ip netns exec xs-b sockperf server -i 198.18.0.2 -p 11111 >"$OUT/sockperf-server.out" 2>&1 &
SPID=$!
for _ in $(seq 50); do
    ip netns exec xs-b ss -lun | grep -q ':11111 ' && break
    sleep 0.1
done
ip netns exec xs-a sockperf ping-pong -i 198.18.0.2 -p 11111 -t "$SECS" --full-rtt \
    >"$RESULTS/sockperf-client-kernel-server.txt" 2>&1
grep -E 'Summary' "$RESULTS/sockperf-client-kernel-server.txt" | sed 's/\x1b\[[0-9;]*m//g'
load load-kernel-server --target 198.18.0.2:11111 --proto udp --app sockperf
kill -TERM "$SPID"
wait "$SPID" 2>/dev/null || true
SPID=""

say "round-trip time, full RTT in microseconds: sockperf's client and xstack load, each ${SECS} s, 64 B"
hx report demo "$RESULTS/sockperf-client-kernel-server.txt" \
    "xstack load -> kernel server=$RESULTS/load-kernel-server.json" \
    "xstack load -> xstack serve=$RESULTS/load-xstack-serve.json" | tee "$RESULTS/table.md"
# Both runs of xstack load on one plot, as PNG and SVG (drawn by xstack itself).
for ext in png svg; do
    target/release/xstack plot "$RESULTS/load-kernel-server.hlog" "$RESULTS/load-xstack-serve.hlog" \
        -o "$RESULTS/compare.$ext" --title "xstack load, UDP sockperf ping-pong: kernel server vs xstack serve" \
        2>/dev/null || echo "demo.sh: could not draw compare.$ext" >&2
done

say "results"
echo "The JSON reports, HdrHistogram interval logs and plots are in $RESULTS:"
ls "$RESULTS"
