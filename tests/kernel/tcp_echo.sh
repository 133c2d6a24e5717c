#!/usr/bin/env bash
# TCP echo (RFC 862) against the kernel's TCP: concurrent Python clients with a half-close,
# sequential connect/request/close cycles, nc and socat sessions; every connection ends
# with the FIN exchange and none is left in the table. The kernel's client agrees
# timestamps (RFC 7323), SACK and window scaling with serve, and without timestamps on
# its side (net.ipv4.tcp_timestamps=0) still connects, with the other two.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --tcp-echo 7
res=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 20 262144 300) || die "$res"
log "$res"
got=$(echo "nc says hello" | in_a timeout 5 nc -N "$B" 7) || die "nc failed"
[ "$got" = "nc says hello" ] || die "nc got '$got'"
got=$(echo "socat says hello" | in_a timeout 5 socat -t 2 - "TCP:$B:7") || die "socat failed"
[ "$got" = "socat says hello" ] || die "socat got '$got'"
opts=$(in_a timeout 10 python3 "$KDIR/tcp_options_check.py" "$B" 7) || die "options check: $opts"
[ "$opts" = "ts sack wscale" ] || die "the kernel's client agreed '$opts' with serve, not 'ts sack wscale'"
in_a sysctl -qw net.ipv4.tcp_timestamps=0
opts_off=$(in_a timeout 10 python3 "$KDIR/tcp_options_check.py" "$B" 7) || die "options check without timestamps: $opts_off"
in_a sysctl -qw net.ipv4.tcp_timestamps=1
[ "$opts_off" = "sack wscale" ] || die "with timestamps off at the client, agreed '$opts_off', not 'sack wscale'"
sleep 0.5
serve_stop
expect_all_fin 324
pass "$res; nc and socat echoed; options agreed: $opts (client without timestamps: $opts_off); 324 connections opened, all closed by FIN, none left"
