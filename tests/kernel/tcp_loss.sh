#!/usr/bin/env bash
# TCP echo under 3 % random loss in both directions, injected on the kernel's side by
# nftables `numgen random` drop rules in netdev ingress and egress chains on xsa0 (this
# kernel has no netem). 20 concurrent connections x 256 KiB and 100 sequential cycles,
# echoed byte-exact, over IPv4 and then over IPv6; every connection still ends with the
# FIN exchange.
source "$(dirname "$0")/lib.sh"
lab_up
in_a nft -f - <<'NFT' || die "cannot install the nftables loss rules"
table netdev xsloss {
    chain in {
        type filter hook ingress device "xsa0" priority 0;
        numgen random mod 100 < 3 counter drop
    }
    chain out {
        type filter hook egress device "xsa0" priority 0;
        numgen random mod 100 < 3 counter drop
    }
}
NFT
serve_start --ip 2001:2::2/64 --tcp-echo 7 --interval 0.2
res=$(in_a timeout 300 python3 "$KDIR/tcp_echo_check.py" "$B" 7 20 262144 100) || die "$res"
log "$res"
res6=$(in_a timeout 300 python3 "$KDIR/tcp_echo_check.py" 2001:2::2 7 20 262144 100) || die "IPv6: $res6"
log "IPv6: $res6"
count() { in_a nft list chain netdev xsloss "$1" | grep -o 'packets [0-9]*' | awk '{print $2}'; }
dropped_in=$(count in)
dropped_out=$(count out)
in_a nft delete table netdev xsloss
wait_idle 20
[ "${dropped_in:-0}" -gt 0 ] && [ "${dropped_out:-0}" -gt 0 ] \
    || die "the loss rules dropped ${dropped_in:-0} arriving and ${dropped_out:-0} leaving frames: both must drop"
dropped="$dropped_in arriving at and $dropped_out leaving the kernel"
sleep 1
serve_stop
expect_all_fin 240
pass "$res; IPv6: $res6; frames dropped: $dropped; $(summary tcp_retransmits) retransmitted, $(summary tcp_fast_retransmits) fast retransmits, $(summary tcp_out_of_order) out of order; 240 connections, all closed by FIN"
