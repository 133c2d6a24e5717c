#!/usr/bin/env bash
# Malformed frames from an AF_PACKET socket in xs-a: every one counted and dropped, none
# crashes xstack, and it still answers ping and UDP echo afterwards.
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
[ "$total" -ge "$must_drop" ] || die "drops_total $total < $must_drop malformed frames that must be dropped"
for reason in truncated bad_checksum bad_length fragment unknown_ethertype unknown_protocol bad_version bad_header_length; do
    n=$(summary "drops.$reason")
    [ "$n" -gt 0 ] || die "no drop counted as $reason"
    log "  drops.$reason = $n"
done
pass "$sent malformed frames ($must_drop crafted, the rest random): $total drops counted by reason, still answering"
