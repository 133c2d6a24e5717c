#!/usr/bin/env bash
# coexist.sh over IPv6: the kernel in xs-b has its own 2001:2::3/64 on xsb0, with a TCP
# echo server on 8080 and a UDP echo server on 7, beside xstack serve owning 2001:2::2.
# ping -6, UDP and TCP to both addresses are answered, each by its own stack; on AF_XDP
# xstack's program takes only xstack's IPv6 (its address and solicited-node group) and
# passes the kernel's, neighbour discovery included.
source "$(dirname "$0")/lib.sh"
lab_up
K6=2001:2::3
B6=2001:2::2
in_b sysctl -qw net.ipv6.conf.all.disable_ipv6=0
in_b sysctl -qw "net.ipv6.conf.$HX_IF_B.disable_ipv6=0"
in_b sysctl -qw "net.ipv6.conf.$HX_IF_B.accept_dad=0"
in_b ip -6 addr add "$K6/64" dev "$HX_IF_B" nodad
peer_start "$HX_NS_B" tcp:8080 python3 "$KDIR/tcp_echo_server.py" "$K6" 8080
peer_start "$HX_NS_B" udp:7 python3 "$KDIR/udp_echo_server.py" "$K6" 7 60
serve_start --ip "$B6/64" --udp-echo 7 --tcp-echo 7

for ip in "$B6" "$K6"; do
    in_a ping -6 -c 20 -i 0.01 -W 1 "$ip" >"$WORK/ping" || die "ping -6 $ip: $(tail -2 "$WORK/ping")"
    res=$(in_a python3 "$KDIR/udp_check.py" "$ip" 7 50) || die "UDP to $ip: $res"
done
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B6" 7 5 65536 20) || die "TCP to xstack: $res"
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$K6" 8080 5 65536 20) || die "TCP to the kernel: $res"
sleep 0.5
serve_stop

[ "$(summary icmpv6_echo_replies)" = 20 ] || die "xstack answered $(summary icmpv6_echo_replies) pings, not the 20 sent to it"
[ "$(summary udp_echo_replies)" = 50 ] || die "xstack echoed $(summary udp_echo_replies) datagrams, not the 50 sent to it"
[ "$(summary tcp_connections_opened)" = 25 ] || die "xstack opened $(summary tcp_connections_opened) connections, not the 25 made to it"
if [ "$DRIVER" = xdp ]; then
    passed=$(summary xdp.passed)
    [ "$passed" -gt 100 ] || die "the XDP program passed only $passed frames to the kernel"
    [ "$(summary drops.not_for_us)" = 0 ] || die "xstack saw $(summary drops.not_for_us) frames for other addresses"
    pass "both stacks answered ping -6, UDP and TCP at their own IPv6 addresses; XDP program: $(summary xdp.redirected) redirected, $passed passed"
else
    pass "both stacks answered ping -6, UDP and TCP at their own IPv6 addresses ($(summary drops.not_for_us) frames for the kernel's address seen and left)"
fi
