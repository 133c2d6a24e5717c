#!/usr/bin/env bash
# IPv4 fragments both ways: the kernel in xs-a sends UDP datagrams of 2000, 4000, 9000
# and 60000 bytes and pings of 3000 bytes to xstack serve over 1500-byte frames. xstack
# reassembles each (RFC 1122 §3.3.2), answers it as a whole datagram, and sends the
# reply, larger than the MTU, in fragments that the kernel reassembles: every answer
# byte-exact, no fragment dropped, and the capture shows fragments both ways, none
# longer than the MTU and none with DF set. Then the same over two queues and two
# workers: the fragments of a datagram land on one queue and are reassembled there.
source "$(dirname "$0")/lib.sh"
lab_up
mtu=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | grep -o 'mtu [0-9]*' | cut -d' ' -f2)
[ "$mtu" = 1500 ] || die "the lab's MTU is $mtu, not 1500"
serve_start --udp-echo 7 --pcap "$WORK/frag.pcap"
in_a ip neigh flush dev "$HX_IF_A"
count=5
res=$(in_a timeout 120 python3 "$KDIR/udp_sizes.py" "$B" 7 "$count" 2000 4000 9000 60000) || die "$res"
log "$res"
out=$(in_a ping -c 10 -i 0.05 -W 1 -s 3000 "$B" 2>&1) || true
echo "$out" | tail -2 >&2
echo "$out" | grep -q " 0% packet loss" || die "ping -s 3000 lost packets"
! echo "$out" | grep -qi "wrong data" || die "ping -s 3000: a reply with other data"
echo "$out" | grep -q "3008 bytes from $B" || die "ping -s 3000: no 3008-byte replies"
sleep 0.2
serve_stop

# What a datagram of each size is on the wire: ceil((size + 8) / 1480) fragments.
frags_of() { echo $((($1 + 8 + 1479) / 1480)); }
want_frags=0
for size in 2000 4000 9000 60000; do
    want_frags=$((want_frags + count * $(frags_of "$size")))
done
udp_datagrams=$((4 * count))
pings=10
datagrams=$((udp_datagrams + pings))
want_frags=$((want_frags + pings * $(frags_of 3000)))

reassembled=$(summary ipv4_reassembled)
fragmented=$(summary ipv4_fragmented)
sent=$(summary ipv4_fragments_sent)
received=$(summary ipv4_fragments_received)
[ "$reassembled" -ge "$datagrams" ] || die "ipv4_reassembled $reassembled < $datagrams datagrams"
[ "$fragmented" -ge "$datagrams" ] || die "ipv4_fragmented $fragmented < $datagrams replies"
[ "$sent" -ge "$want_frags" ] || die "ipv4_fragments_sent $sent < $want_frags"
[ "$received" -ge "$want_frags" ] || die "ipv4_fragments_received $received < $want_frags"
[ "$(summary udp_echo_replies)" -ge "$udp_datagrams" ] || die "udp_echo_replies < $udp_datagrams"
[ "$(summary icmp_echo_replies)" -ge "$pings" ] || die "icmp_echo_replies < $pings"
for reason in fragment_overlap fragment_duplicate fragment_invalid fragment_timeout \
    fragment_source_full fragment_table_full tx_no_buffer; do
    n=$(summary "drops.$reason")
    [ "$n" = 0 ] || die "drops.$reason = $n"
done

# The capture, read by tcpdump: fragments from the kernel and from xstack, none of
# xstack's longer than the MTU or with DF set.
frames_from() { tcpdump -nn -r "$WORK/frag.pcap" "$@" 2>/dev/null | wc -l; }
theirs=$(frames_from "src host $A and (ip[6:2] & 0x3fff != 0)")
ours=$(frames_from "src host $B and (ip[6:2] & 0x3fff != 0)")
too_long=$(frames_from "src host $B and greater $((mtu + 15))")
with_df=$(frames_from "src host $B and (ip[6:2] & 0x3fff != 0) and (ip[6] & 0x40 != 0)")
[ "$theirs" -ge "$want_frags" ] || die "the capture holds $theirs fragments from the kernel, not $want_frags"
[ "$ours" -ge "$want_frags" ] || die "the capture holds $ours fragments from xstack, not $want_frags"
[ "$too_long" = 0 ] || die "$too_long frames from xstack longer than the MTU"
[ "$with_df" = 0 ] || die "$with_df fragments from xstack with DF set"
log "pcap: $theirs fragments from the kernel, $ours from xstack, none past $mtu bytes or with DF"
one="$datagrams datagrams (UDP 2000-60000 B, ping -s 3000) reassembled and answered in $sent fragments, byte-exact"

# Two queues, two workers.
export LAB_QUEUES=2
lab_up
serve_start --udp-echo 7 --queues 2
in_a ip neigh flush dev "$HX_IF_A"
res=$(in_a timeout 120 python3 "$KDIR/udp_sizes.py" "$B" 7 10 4000 60000) || die "two queues: $res"
log "two queues: $res"
serve_stop
[ "$(summary ipv4_reassembled)" -ge 20 ] || die "two queues: ipv4_reassembled $(summary ipv4_reassembled) < 20"
for reason in fragment_timeout fragment_overlap fragment_invalid; do
    [ "$(summary "drops.$reason")" = 0 ] || die "two queues: drops.$reason = $(summary "drops.$reason")"
done
pass "$one; over two queues, 20 more"
