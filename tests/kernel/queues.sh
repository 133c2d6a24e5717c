#!/usr/bin/env bash
# --queues 2 on a two-queue veth: one worker per queue (AF_XDP: a socket per queue;
# AF_PACKET: a fanout group). Every request is answered exactly once.
LAB_QUEUES=2
export LAB_QUEUES
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --queues 2 --udp-echo 7
out=$(in_a ping -c 50 -i 0.01 -W 1 "$B" 2>&1) || true
echo "$out" | grep -q " 0% packet loss" || die "ping lost packets: $out"
echo "$out" | grep -q "duplicates" && die "duplicate replies: $(echo "$out" | grep duplicates)"
for flow in 1 2 3 4 5 6; do
    res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 300 "$flow") || die "flow $flow: $res"
done
serve_stop
[ "$(summary udp_echo_replies)" = 1800 ] || die "udp_echo_replies $(summary udp_echo_replies), not 1800"
pass "2 workers: ping without duplicates, 6 flows x 300 datagrams echoed exactly once"
