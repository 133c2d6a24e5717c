#!/usr/bin/env bash
# Shared-address mode: the kernel keeps 198.18.0.2 on xsb0 (ARP, ICMP, a kernel TCP echo
# server on 8080), and xstack takes only the ports it claims (--claim udp:7,tcp:7). Each
# stack answers its own: xstack echoes UDP and TCP on 7 and answers no ARP and no ping;
# the kernel answers ping, ARP and TCP on 8080. Fragmented datagrams go whole to one
# stack: UDP of 4000 and 9000 bytes to the claimed port to xstack (the XDP program sends
# a later fragment where its first went), pings of 3000 bytes to the kernel. AF_PACKET
# cannot share (it sees every frame), and says so.
source "$(dirname "$0")/lib.sh"
export LAB_B_KERNEL=1
lab_up
if [ "$DRIVER" = packet ]; then
    hx_serve_argv --udp-echo 7 --tcp-echo 7 --claim udp:7,tcp:7 --driver packet
    rc=0
    timeout 10 "${HX_ARGV[@]}" >"$WORK/s.out" 2>"$WORK/s.err" || rc=$?
    [ "$rc" = 1 ] || die "--claim with --driver packet: exit $rc, not 1"
    grep -q "it needs --driver xdp" "$WORK/s.err" || die "no reason given: $(cat "$WORK/s.err")"
    pass "--claim refused on AF_PACKET: $(grep error "$WORK/s.err")"
    exit 0
fi
# Without --claim, an address the kernel has is refused.
hx_serve_argv --udp-echo 7 --driver xdp
rc=0
timeout 10 "${HX_ARGV[@]}" >"$WORK/s.out" 2>"$WORK/s.err" || rc=$?
[ "$rc" = 1 ] || die "serve on the kernel's address without --claim: exit $rc, not 1"
grep -q "is configured on the kernel's interface" "$WORK/s.err" || die "no reason given: $(cat "$WORK/s.err")"

peer_start "$HX_NS_B" tcp:8080 python3 "$KDIR/tcp_echo_server.py" "$B" 8080
serve_start --udp-echo 7 --tcp-echo 7 --claim udp:7,tcp:7
in_a ip neigh flush dev "$HX_IF_A"
in_a ping -c 20 -i 0.01 -W 1 "$B" >"$WORK/ping" || die "ping: $(tail -2 "$WORK/ping")"
res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 50) || die "UDP to the claimed port: $res"
res=$(in_a timeout 60 python3 "$KDIR/udp_sizes.py" "$B" 7 5 4000 9000) || die "fragmented UDP to the claimed port: $res"
in_a ping -c 5 -i 0.05 -W 1 -s 3000 "$B" >"$WORK/ping3000" || die "ping -s 3000: $(tail -2 "$WORK/ping3000")"
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B" 7 5 65536 20) || die "TCP to the claimed port: $res"
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B" 8080 5 65536 20) || die "TCP to the kernel's port: $res"
sleep 0.5
serve_stop
[ "$(summary udp_echo_replies)" = 60 ] || die "xstack echoed $(summary udp_echo_replies) datagrams, not 60"
# 5 × 3 fragments of 4000 bytes and 5 × 7 of 9000, and none of the kernel's pings.
[ "$(summary ipv4_reassembled)" = 10 ] || die "xstack reassembled $(summary ipv4_reassembled) datagrams, not 10"
[ "$(summary ipv4_fragments_received)" = 50 ] \
    || die "xstack got $(summary ipv4_fragments_received) fragments, not the 50 of its datagrams"
[ "$(summary tcp_connections_opened)" = 25 ] || die "xstack opened $(summary tcp_connections_opened) connections, not 25"
[ "$(summary icmp_echo_replies)" = 0 ] || die "xstack answered $(summary icmp_echo_replies) pings: the kernel's"
[ "$(summary arp_replies)" = 0 ] || die "xstack answered $(summary arp_replies) ARP requests: the kernel's"
pass "claimed UDP and TCP 7 answered by xstack; ping, ARP and TCP 8080 by the kernel; XDP program: $(summary xdp.redirected) redirected, $(summary xdp.passed) passed"
