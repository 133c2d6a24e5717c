#!/usr/bin/env bash
# The main job end to end: build, bring up the veth lab, run xstack serve in xs-b, drive it
# from the kernel in xs-a with ping, UDP echo, TCP echo and a sockperf ping-pong, show
# xstack's summary, and tear the lab down (also on Ctrl-C or failure).
#   DRIVER=xdp|packet|auto (default auto)
set -euo pipefail
cd "$(dirname "$0")/.."
DRIVER=${DRIVER:-auto}

if [ "$(id -u)" != 0 ]; then
    echo "demo.sh: the lab needs root (network namespaces, XDP): run it with sudo" >&2
    exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
PID=""
OUT=$(mktemp -d /tmp/xstack-demo.XXXXXX)
cleanup() {
    [ -n "$PID" ] && kill -INT "$PID" 2>/dev/null && sleep 0.5
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

say "xstack's summary (after SIGINT)"
kill -INT "$PID"
wait "$PID" || true
PID=""
grep -v ready "$OUT/serve.out"
