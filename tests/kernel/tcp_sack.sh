#!/usr/bin/env bash
# TCP loss recovery against the kernel with SACK on and with SACK off, under real loss:
# the lab's two ends are joined through a bridge namespace (LAB_BRIDGE=1), and nftables
# drops 5 % of the TCP frames entering the bridge from either side (netdev ingress on
# its ports), where neither end's kernel sees the drop (unlike tcp_loss.sh's rules on
# xsa0's egress, which the kernel's TCP notices and sends again at once). Each round:
# 10 concurrent connections x 256 KiB echoed byte-exact, then 20 sequential cycles.
#   1. SACK on (the kernel's default): every connection negotiates SACK, xstack sends
#      SACK blocks for what it holds out of order and D-SACKs for duplicates, and
#      recovers its own losses from the kernel's SACKs; over IPv4 and over IPv6.
#   2. SACK off (sysctl net.ipv4.tcp_sack=0 in xs-a): no connection negotiates SACK, and
#      both ends recover by NewReno.
# Every connection still ends with the FIN exchange and none is left in the table.
source "$(dirname "$0")/lib.sh"
export LAB_BRIDGE=1
lab_up
ip netns exec "$HX_NS_BR" nft -f - <<NFT || die "cannot install the loss rules on the bridge"
table netdev xsloss {
    chain from_a {
        type filter hook ingress device "${HX_IF_A}br" priority 0;
        meta l4proto tcp numgen random mod 100 < 5 counter drop;
    }
    chain from_b {
        type filter hook ingress device "${HX_IF_B}br" priority 0;
        meta l4proto tcp numgen random mod 100 < 5 counter drop;
    }
}
NFT
serve_start --ip 2001:2::2/64 --tcp-echo 7 --interval 0.2
in_a sysctl -qw net.ipv4.tcp_sack=1
in_a sysctl -qw net.ipv4.tcp_dsack=1

# echo_round LABEL ADDRESS: the transfer; dies on any mismatch.
echo_round() {
    local res
    res=$(in_a timeout 250 python3 "$KDIR/tcp_echo_check.py" "$2" 7 10 262144 20) || die "$1: $res"
    log "$1: $res"
    echo "$res"
}

on=$(echo_round "SACK on" "$B")
on6=$(echo_round "SACK on, IPv6" 2001:2::2)
in_a sysctl -qw net.ipv4.tcp_sack=0
off=$(echo_round "SACK off" "$B")
in_a sysctl -qw net.ipv4.tcp_sack=1
count() { ip netns exec "$HX_NS_BR" nft list chain netdev xsloss "$1" | grep -o 'packets [0-9]*' | awk '{print $2}'; }
from_a=$(count from_a)
from_b=$(count from_b)
ip netns exec "$HX_NS_BR" nft delete table netdev xsloss
wait_idle 30
sleep 1
serve_stop
expect_all_fin 90
[ "${from_a:-0}" -gt 0 ] && [ "${from_b:-0}" -gt 0 ] \
    || die "the bridge dropped ${from_a:-0} frames from the kernel and ${from_b:-0} from xstack: both must drop"
sack=$(summary tcp_sack_connections)
[ "$sack" = 60 ] || die "tcp_sack_connections $sack, not 60: the 60 connections with SACK on must negotiate it, the 30 with it off must not"
ooo=$(summary tcp_out_of_order)
dsent=$(summary tcp_dsacks_sent)
[ "$ooo" -gt 0 ] || die "no segment reached xstack out of order: the loss did not hit its receiver"
fast=$(summary tcp_fast_retransmits)
[ "$fast" -gt 0 ] || die "no loss recovery without a timeout: SACK and NewReno recovery never ran"
pass "SACK on: $on; IPv6: $on6; SACK off: $off; dropped $from_a from the kernel, $from_b from xstack; $sack of 90 connections with SACK; xstack: $ooo out of order, $dsent D-SACKs sent, $(summary tcp_dsacks_received) received, $fast recoveries, $(summary tcp_timeouts) timeouts, $(summary tcp_loss_probes) loss probes, $(summary tcp_rescue_retransmits) rescues, $(summary tcp_retransmits) retransmitted; all closed by FIN"
