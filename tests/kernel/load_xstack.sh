#!/usr/bin/env bash
# xstack load against xstack serve, both on the same driver: UDP echo and sockperf, and
# TCP ping-pong, crr and sockperf over TCP, over IPv4 and then IPv6 (both stacks own an
# address of each family); every TCP connection ends by FIN.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --ip 2001:2::2/64 --udp-echo 7 --sockperf 11111 --tcp-echo 7
load() { xstack_load "$@"; }
load --target "$B:7" --proto udp --connections 8 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --in-place) || die "$r"
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
load6() { xstack_load --ip 2001:2::10/64 "$@"; }
load6 --target "[2001:2::2]:7" --proto udp --connections 8 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --in-place) || die "$r"
pass "udp echo x8 over IPv6: $r"
load6 --target "[2001:2::2]:11111" --proto udp --app sockperf --duration 2 --rate 10000
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --open-loop) || die "$r"
pass "sockperf open loop 10000/s over IPv6: $r"
load6 --target "[2001:2::2]:7" --proto tcp --connections 8 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp echo x8 over IPv6: $r"
load6 --target "[2001:2::2]:7" --proto tcp --mode crr --connections 2 --requests 1000
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp crr over IPv6: $r"
load6 --target "[2001:2::2]:11111" --proto tcp --app sockperf --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
pass "tcp sockperf over IPv6: $r"
sleep 0.5
serve_stop
expect_all_fin 4026
