#!/usr/bin/env bash
# TCP echo at scale against the kernel's TCP: 100 concurrent connections x 1 MiB, 1000
# concurrent connections, then 10 000 sequential connect/request/close cycles. Every
# connection ends with the FIN exchange and none is left in the table.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --tcp-echo 7
res1=$(in_a timeout 180 python3 "$KDIR/tcp_echo_check.py" "$B" 7 100 1048576 0) || die "$res1"
log "$res1"
res2=$(in_a timeout 180 python3 "$KDIR/tcp_echo_check.py" "$B" 7 1000 1000 10000) || die "$res2"
log "$res2"
sleep 0.5
serve_stop
expect_all_fin 11100
pass "100 x 1 MiB: ${res1%%;*}; ${res2}; 11100 connections, all closed by FIN"
