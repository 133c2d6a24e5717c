#!/usr/bin/env bash
# xstack serve over IPv6 (2001:2::2/64 beside 198.18.0.2/24) against the kernel in xs-a
# (2001:2::1/64): neighbour discovery, ping -6, 10 000 UDP datagrams of random sizes
# echoed byte-exact, the TCP kernel-peer suite (100 concurrent 1 MiB echoes with a
# half-close, 10 000 sequential connect/request/close cycles, 1000 concurrent
# connections, nc -6 and socat over TCP6), and IPv4 answered by the same serve at once;
# every TCP connection ends by FIN. (3 % loss over IPv6 is in tcp_loss.sh.)
source "$(dirname "$0")/lib.sh"
lab_up
B6=2001:2::2
serve_start --ip "$B6/64" --udp-echo 7 --tcp-echo 7
out=$(in_a ping -6 -c 100 -i 0.01 -W 1 "$B6") || die "ping -6: $(echo "$out" | tail -2)"
echo "$out" | grep -q " 0% packet loss" || die "ping -6 lost packets: $(echo "$out" | tail -2)"
pass "ping -6 -c 100: 0% loss"
in_a ip -6 neigh show dev "$HX_IF_A" | grep -q "^$B6 lladdr" \
    || die "the kernel did not resolve $B6: $(in_a ip -6 neigh show dev "$HX_IF_A")"
pass "the kernel resolved $B6 by neighbour discovery"
res=$(in_a timeout 120 python3 "$KDIR/udp_check.py" "$B6" 7 10000) || die "$res"
pass "udp over IPv6: $res"
res=$(in_a timeout 120 python3 "$KDIR/udp_check.py" "$B" 7 200) || die "$res"
pass "and over IPv4 on the same serve: $res"
res=$(in_a timeout 300 python3 "$KDIR/tcp_echo_check.py" "$B6" 7 100 1048576 10000) || die "$res"
pass "tcp over IPv6: $res"
res=$(in_a timeout 180 python3 "$KDIR/tcp_echo_check.py" "$B6" 7 1000 1000 0) || die "$res"
pass "1000 concurrent TCP connections over IPv6: $res"
got=$(echo "nc -6 says hello" | in_a timeout 5 nc -6 -N "$B6" 7) || die "nc -6 failed"
[ "$got" = "nc -6 says hello" ] || die "nc -6 got '$got'"
got=$(echo "socat says hello" | in_a timeout 5 socat -t 2 - "TCP6:[$B6]:7") || die "socat failed"
[ "$got" = "socat says hello" ] || die "socat got '$got'"
pass "nc -6 and socat over TCP6 echoed"
sleep 0.5
serve_stop
expect_all_fin 11102
[ "$(summary icmpv6_echo_replies)" = 100 ] || die "icmpv6_echo_replies $(summary icmpv6_echo_replies)"
[ "$(summary ndp_solicitations_received)" -ge 1 ] || die "no neighbour solicitation counted"
pass "11102 TCP connections over IPv6, all closed by FIN; 100 ICMPv6 echo replies"
