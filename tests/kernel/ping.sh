#!/usr/bin/env bash
# The kernel's ping: 100 echo requests, 10 ms apart, none lost.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start
out=$(in_a ping -c 100 -i 0.01 -W 1 "$B" 2>&1) || true
echo "$out" | tail -2 >&2
echo "$out" | grep -q " 0% packet loss" || die "ping lost packets"
serve_stop
[ "$(summary icmp_echo_replies)" -ge 100 ] || die "icmp_echo_replies < 100"
pass "ping 100/100, $(echo "$out" | grep -o 'rtt.*')"
