#!/usr/bin/env bash
# A kernel UDP client: 10 000 datagrams of random sizes 1..1472, every one echoed exactly.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --udp-echo 7
res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 10000) || die "$res"
serve_stop
[ "$(summary udp_echo_replies)" -ge 10000 ] || die "udp_echo_replies < 10000"
pass "$res"
