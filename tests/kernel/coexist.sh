#!/usr/bin/env bash
# xstack beside the kernel on one interface: xsb0 also has the kernel's own address
# .3/24, with a kernel TCP echo server on 8080 and a UDP echo server on 7. Pings, UDP and
# TCP to both addresses are answered, each by its own stack: xstack counts only what was
# sent to its address, and (on AF_XDP) its XDP program passes the rest to the kernel.
source "$(dirname "$0")/lib.sh"
lab_up
K=${B%.*}.3
in_b ip addr add "$K/24" dev "$HX_IF_B"
peer_start "$HX_NS_B" tcp:8080 python3 "$KDIR/tcp_echo_server.py" "$K" 8080
peer_start "$HX_NS_B" udp:7 python3 "$KDIR/udp_echo_server.py" "$K" 7 60
serve_start --udp-echo 7 --tcp-echo 7

for ip in "$B" "$K"; do
    in_a ping -c 20 -i 0.01 -W 1 "$ip" >"$WORK/ping" || die "ping $ip: $(tail -2 "$WORK/ping")"
    res=$(in_a python3 "$KDIR/udp_check.py" "$ip" 7 50) || die "UDP to $ip: $res"
done
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B" 7 5 65536 20) || die "TCP to xstack: $res"
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$K" 8080 5 65536 20) || die "TCP to the kernel: $res"
sleep 0.5
serve_stop

[ "$(summary icmp_echo_replies)" = 20 ] || die "xstack answered $(summary icmp_echo_replies) pings, not the 20 sent to it"
[ "$(summary udp_echo_replies)" = 50 ] || die "xstack echoed $(summary udp_echo_replies) datagrams, not the 50 sent to it"
[ "$(summary tcp_connections_opened)" = 25 ] || die "xstack opened $(summary tcp_connections_opened) connections, not the 25 made to it"
if [ "$DRIVER" = xdp ]; then
    passed=$(summary xdp.passed)
    [ "$passed" -gt 100 ] || die "the XDP program passed only $passed frames to the kernel"
    [ "$(summary drops.not_for_us)" = 0 ] || die "xstack saw $(summary drops.not_for_us) frames for other addresses"
    pass "both stacks answered ping, UDP and TCP at their own addresses; XDP program: $(summary xdp.redirected) redirected, $passed passed"
else
    pass "both stacks answered ping, UDP and TCP at their own addresses ($(summary drops.not_for_us) frames for the kernel's address seen and left)"
fi
