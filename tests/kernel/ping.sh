#!/usr/bin/env bash
# The kernel's ping: 100 echo requests, 10 ms apart, none lost. Recorded with --pcap, and
# the capture read back with tcpdump.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --pcap "$WORK/ping.pcap"
out=$(in_a ping -c 100 -i 0.01 -W 1 "$B" 2>&1) || true
echo "$out" | tail -2 >&2
echo "$out" | grep -q " 0% packet loss" || die "ping lost packets"
serve_stop
[ "$(summary icmp_echo_replies)" -ge 100 ] || die "icmp_echo_replies < 100"
replies=$(tcpdump -nn -r "$WORK/ping.pcap" 'icmp[icmptype] = icmp-echoreply' 2>/dev/null | wc -l)
requests=$(tcpdump -nn -r "$WORK/ping.pcap" 'icmp[icmptype] = icmp-echo' 2>/dev/null | wc -l)
[ "$replies" -ge 100 ] && [ "$requests" -ge 100 ] \
    || die "the pcap holds $requests echo requests and $replies replies, not 100 each"
log "pcap read by tcpdump: $requests echo requests, $replies echo replies"
pass "ping 100/100, $(echo "$out" | grep -o 'rtt.*')"
