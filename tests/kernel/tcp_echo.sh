#!/usr/bin/env bash
# TCP echo (RFC 862) against the kernel's TCP: concurrent Python clients with a half-close,
# sequential connect/request/close cycles, nc and socat sessions; every connection ends
# with the FIN exchange and none is left in the table.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --tcp-echo 7
res=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 20 262144 300) || die "$res"
log "$res"
got=$(echo "nc says hello" | in_a timeout 5 nc -N "$B" 7) || die "nc failed"
[ "$got" = "nc says hello" ] || die "nc got '$got'"
got=$(echo "socat says hello" | in_a timeout 5 socat -t 2 - "TCP:$B:7") || die "socat failed"
[ "$got" = "socat says hello" ] || die "socat got '$got'"
sleep 0.5
serve_stop
expect_all_fin 322
pass "$res; nc and socat echoed; 322 connections opened, all closed by FIN, none left"
