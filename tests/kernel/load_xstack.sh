#!/usr/bin/env bash
# xstack load against xstack serve, both on the same driver: UDP echo and sockperf, and
# TCP ping-pong, crr and sockperf over TCP; every TCP connection ends by FIN.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --udp-echo 7 --sockperf 11111 --tcp-echo 7
load() { xstack_load "$@"; }
load --target "$B:7" --proto udp --connections 8 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "udp echo x8: $r"
load --target "$B:11111" --proto udp --app sockperf --duration 2 --rate 10000
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --open-loop) || die "$r"
pass "sockperf open loop 10000/s: $r"
load --target "$B:7" --proto tcp --connections 16 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp echo x16: $r"
load --target "$B:7" --proto tcp --mode crr --connections 2 --requests 3000
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp crr: $r"
load --target "$B:11111" --proto tcp --app sockperf --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp sockperf: $r"
sleep 0.5
serve_stop
expect_all_fin 3017
