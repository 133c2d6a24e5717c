#!/usr/bin/env bash
# Malformed IPv6 from an AF_PACKET socket in xs-a (tests/kernel/inject6.py): every
# crafted frame counted under its reason — truncated, bad length, bad version, extension
# chains too long and looping, fragments, bad (UDP, ICMPv6, TCP) and zero UDP checksums, off-link and malformed
# neighbour discovery — plus 300 random IPv6 frames; none crashes xstack, and it still
# answers ping -6 and UDP over IPv6 afterwards.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --ip 2001:2::2/64 --udp-echo 7
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')
read -r must_drop sent crafted < <(in_a python3 "$KDIR/inject6.py" "$HX_IF_A" "$mac" 2001:2::1 2001:2::2)
sleep 0.5
alive "$SERVE_PID" || die "xstack died on malformed IPv6"
in_a ping -6 -c 3 -i 0.05 -W 1 2001:2::2 >/dev/null || die "no ping -6 reply after the malformed frames"
res=$(in_a python3 "$KDIR/udp_check.py" 2001:2::2 7 100) || die "UDP over IPv6 broken after the malformed frames: $res"
serve_stop
for reason in $(echo "$crafted" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'); do
    want=$(echo "$crafted" | python3 -c "import json,sys; print(json.load(sys.stdin)['$reason'])")
    n=$(summary "drops.$reason")
    [ "$n" -ge "$want" ] || die "drops.$reason $n < the $want crafted for it"
    log "  drops.$reason = $n (crafted $want)"
done
total=$(summary drops_total)
[ "$total" -ge "$must_drop" ] || die "drops_total $total < $must_drop crafted frames"
pass "$sent malformed IPv6 frames ($must_drop crafted, the rest random): $total drops counted by reason, still answering"
