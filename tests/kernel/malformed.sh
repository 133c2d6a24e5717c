#!/usr/bin/env bash
# Malformed frames from an AF_PACKET socket in xs-a: every one counted and dropped, none
# crashes xstack, and it still answers ping and UDP echo afterwards. On AF_XDP, xstack's
# XDP program passes the frames that are neither ARP nor IPv4 for its address (an
# unknown EtherType, IPv6, a runt ARP) to the kernel: they count as `xdp.passed`.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --udp-echo 7
mac=$(ip -n xs-b link show xsb0 | awk '/link\/ether/ {print $2}')
read -r must_drop sent < <(in_a python3 "$KDIR/inject.py" xsa0 "$mac" "$A" "$B")
sleep 0.5
alive "$SERVE_PID" || die "xstack died on malformed input"
in_a ping -c 3 -i 0.05 -W 1 "$B" >/dev/null || die "no ping reply after the malformed frames"
res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 100) || die "UDP echo broken after the malformed frames: $res"
serve_stop
total=$(summary drops_total)
reasons="bad_checksum bad_length fragment_invalid unknown_protocol bad_version bad_header_length"
if [ "$DRIVER" = xdp ]; then
    # (The random frames too short for an IPv4 header, the stack's `truncated`, are not
    # for xstack's address either, as far as the program can see.)
    passed=$(summary xdp.passed)
    # The unknown EtherType, the IPv6 frame and the runt ARP of the crafted ones at least.
    [ "$passed" -ge 3 ] || die "the XDP program passed $passed frames to the kernel, not the 3 crafted non-IPv4 ones"
    total=$((total + passed))
    log "  xdp.passed = $passed (not for xstack: left to the kernel)"
else
    reasons="$reasons truncated unknown_ethertype"
fi
[ "$total" -ge "$must_drop" ] || die "drops $total < $must_drop malformed frames that must be dropped"
for reason in $reasons; do
    n=$(summary "drops.$reason")
    [ "$n" -gt 0 ] || die "no drop counted as $reason"
    log "  drops.$reason = $n"
done
pass "$sent malformed frames ($must_drop crafted, the rest random): $total drops counted by reason, still answering"
