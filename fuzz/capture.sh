#!/usr/bin/env bash
# Records the seed corpus of the fuzz targets from a real lab run: xstack serve (UDP and
# TCP echo on 7, sockperf on 11111, IPv4 and IPv6) recorded with --pcap while the kernel
# peer in xs-a pings it, echoes UDP and TCP through it (Python, nc, socat), runs sockperf
# against it, knocks on closed ports and sends it the malformed frames of
# tests/kernel/inject.py and inject6.py; then fuzz/corpus.py splits the frames into
# fuzz/corpus/<target>/. Bounded: a few seconds of traffic, a few hundred KB kept.
# Root; run under the lab lock:  flock /tmp/xstack-lab.lock fuzz/capture.sh [OUT.pcap]
# (needs the default-feature release build of this checkout: cargo build --release).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../tests/kernel/lib.sh" packet
KEEP=${1:-$HERE/lab.pcap}
B6=2001:2::2
A6=2001:2::1
lab_up
serve_start --pcap "$WORK/lab.pcap" --ip "$B6/64" --udp-echo 7 --tcp-echo 7 --sockperf 11111
in_a ping -c 5 -i 0.05 -W 1 "$B" >/dev/null || die "ping"
in_a ping -c 3 -i 0.05 -s 1400 -p a5 -W 1 "$B" >/dev/null || die "ping -s 1400"
in_a ping -6 -c 5 -i 0.05 -W 1 "$B6" >/dev/null || die "ping -6"
in_a timeout 30 python3 "$KDIR/udp_check.py" "$B" 7 20 >/dev/null || die "udp echo"
in_a timeout 30 python3 "$KDIR/udp_check.py" "$B6" 7 10 >/dev/null || die "udp echo over IPv6"
in_a timeout 30 sockperf ping-pong -i "$B" -p 11111 -t 1 --mps 50 >/dev/null 2>&1 || die "sockperf"
in_a timeout 30 sockperf ping-pong -i "$B" -p 11111 -t 1 --mps 50 --tcp >/dev/null 2>&1 || die "sockperf --tcp"
in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B" 7 2 30000 3 >/dev/null || die "tcp echo"
in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B6" 7 1 5000 2 >/dev/null || die "tcp echo over IPv6"
echo "nc says hello" | in_a timeout 5 nc -N "$B" 7 >/dev/null || die "nc"
echo "socat over IPv6" | in_a timeout 5 socat -t 1 - "TCP6:[$B6]:7" >/dev/null || die "socat"
# Closed ports: a RST, a port unreachable, an ICMPv6 port unreachable.
in_a timeout 5 nc -z -w 1 "$B" 9 || true
echo x | in_a timeout 5 nc -u -w 1 "$B" 9999 || true
echo x | in_a timeout 5 nc -6 -u -w 1 "$B6" 9999 || true
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')
in_a python3 "$KDIR/inject.py" "$HX_IF_A" "$mac" "$A" "$B" >/dev/null || die "inject.py"
in_a python3 "$KDIR/inject6.py" "$HX_IF_A" "$mac" "$A6" "$B6" >/dev/null || die "inject6.py"
sleep 0.5
alive "$SERVE_PID" || die "xstack serve died"
serve_stop
cp "$WORK/lab.pcap" "$KEEP"
log "recorded $(stat -c %s "$KEEP") bytes of pcap in $KEEP"
python3 "$HERE/corpus.py" "$KEEP" "$HERE/corpus"
