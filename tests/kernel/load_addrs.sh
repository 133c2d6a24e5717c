#!/usr/bin/env bash
# xstack load from many source addresses (--ip FIRST-LAST/PREFIX). Against xstack serve:
# crr from 20 addresses makes 20 000 connections, more than one address has ports
# (16 384), without taking a port back out of TIME_WAIT, with zero errors; UDP
# and TCP ping-pong spread over the addresses. Against the kernel (a second kernel
# address on xsb0): TCP and UDP echo from 20 addresses, every one of which the kernel
# resolved with ARP and xstack answered. --instance-index I --instances N picks
# disjoint slices of the range.
source "$(dirname "$0")/lib.sh"
lab_up
RANGE=198.18.0.10-198.18.0.29/24
check() { python3 "$KDIR/load_check.py" "$WORK/load.out" "$@" || die "bad report"; }

serve_start --udp-echo 7 --tcp-echo 7
xstack_load --ip "$RANGE" --target "$B:7" --proto tcp --mode crr --connections 16 --requests 20000 --timeout-ms 3000
r=$(check) || die "$r"
[ "$(load_json config.ip)" = "$RANGE" ] || die "config.ip $(load_json config.ip), not $RANGE"
[ "$(load_json requests)" = 20000 ] || die "$(load_json requests) of 20000 transactions"
reused=$(load_json stack.tcp_time_wait_reused)
[ "$reused" = 0 ] || die "$reused ports came back out of TIME_WAIT: the addresses did not each bring their ports"
[ "$(load_json limits)" = "[]" ] || die "a limit was reported: $(load_json limits)"
pass "crr from 20 addresses: 20000 connections (one address has 16384 ports), none from TIME_WAIT, $(load_json connections_per_s | cut -d. -f1)/s: $r"
xstack_load --ip "$RANGE" --target "$B:7" --proto udp --connections 20 --duration 1
r=$(check) || die "$r"
pass "udp echo, 20 flows over 20 addresses: $r"
xstack_load --ip "$RANGE" --target "$B:7" --proto tcp --connections 20 --duration 1
r=$(check) || die "$r"
pass "tcp echo, 20 connections over 20 addresses: $r"
sleep 0.5
serve_stop
[ "$(summary tcp_connections_left)" = 0 ] || die "$(summary tcp_connections_left) connections left in serve"
[ "$(summary tcp_closed_fin)" = "$(summary tcp_connections_opened)" ] \
    || die "$(summary tcp_connections_opened) opened, $(summary tcp_closed_fin) closed by FIN"

# The kernel as the server, on a second address of xsb0.
K=198.18.0.3
in_b ip addr add "$K/24" dev "$HX_IF_B"
peer_start xs-b tcp:7 timeout 60 python3 "$KDIR/tcp_echo_server.py" "$K" 7
peer_start xs-b udp:7 timeout 60 python3 "$KDIR/udp_echo_server.py" "$K" 7 30
xstack_load --ip "$RANGE" --target "$K:7" --proto tcp --connections 20 --duration 1
r=$(check) || die "$r"
pass "tcp echo vs the kernel, 20 connections over 20 addresses: $r"
xstack_load --ip "$RANGE" --target "$K:7" --proto udp --connections 20 --duration 1
r=$(check) || die "$r"
pass "udp echo vs the kernel, 20 flows over 20 addresses: $r"
# Every address was a peer the kernel resolved (ARP answered by xstack, per address).
known=$(in_b ip -4 neigh show dev "$HX_IF_B" | awk '{print $1}' | grep -c -E '^198\.18\.0\.(1[0-9]|2[0-9])$' || true)
[ "$known" = 20 ] || die "the kernel resolved $known of our 20 addresses: $(in_b ip -4 neigh show dev "$HX_IF_B" | tr '\n' ';')"
pass "the kernel resolved all 20 source addresses"

# Two instances of one job take disjoint halves of the range.
xstack_load --ip "$RANGE" --instance-index 1 --instances 2 --target "$K:7" --proto udp --requests 100
[ "$(load_json config.ip)" = 198.18.0.20-198.18.0.29/24 ] \
    || die "instance 1 of 2 took $(load_json config.ip)"
hx_load "$WORK/bad.out" "$WORK/bad.err" --ip "$RANGE" --instance-index 0 --instances 21 \
    --target "$K:7" --proto udp --requests 1 && die "21 instances of 20 addresses were accepted"
grep -q "needs at least 21 addresses" "$WORK/bad.err" || die "no sentence for 21 instances: $(tail -2 "$WORK/bad.err")"
pass "--instance-index slices the range; more instances than addresses is refused"
