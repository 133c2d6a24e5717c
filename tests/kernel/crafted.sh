#!/usr/bin/env bash
# Hand-made frames from an AF_PACKET socket in xs-a (crafted.py), one case for each rule
# of RFC 9293, RFC 768 and RFC 1122 that xstack once broke on them; each checks what came
# back on the wire and the drop reason it was counted under.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --tcp-echo 7 --udp-echo 7
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')
martians=(198.18.0.255 127.0.0.1 127.1.2.3 0.0.0.0 0.1.2.3 224.0.0.1 239.255.255.250 255.255.255.255)
cases=(listen-no-flags udp-short-length udp-long-length "${martians[@]/#/martian:}")
in_a python3 "$KDIR/crafted.py" "$HX_IF_A" "$mac" "$A" "$B" "${cases[@]}" >"$WORK/crafted.out" \
    || die "crafted.py failed: $(cat "$WORK/crafted.out")"
alive "$SERVE_PID" || die "xstack died on the crafted frames"
serve_stop
result() { grep "\"case\": \"$1\"" "$WORK/crafted.out" || die "no result for $1"; }
field() { echo "$1" | hx json - "$2"; }

# RFC 9293 §3.10.7.2: a segment with none of SYN, RST and ACK to a listening port is
# dropped, not answered with a RST.
r=$(result listen-no-flags)
[ "$(field "$r" replies)" = "[]" ] || die "answered a segment without SYN, RST or ACK: $r"
n=$(summary drops.tcp_listen_no_flags)
[ "$n" = "$(field "$r" sent)" ] || die "drops.tcp_listen_no_flags $n, not $(field "$r" sent)"
log "  listen-no-flags: $n dropped unanswered"

# RFC 768: the datagram is what the UDP length says; the kernel answers one whose IP
# payload goes on past it, ignoring the rest, and so must xstack (echoing 13 bytes in a
# 33-byte IP packet). A UDP length past the IP payload is dropped as bad_length.
r=$(result udp-short-length)
[ "$(field "$r" replies.0.udp_len)/$(field "$r" replies.0.ip_len)/$(field "$r" replies.0.payload)" = "13/33/hello" ] \
    || die "a UDP length shorter than the IP payload was not echoed as 13 bytes: $r"
[ "$(field "$r" replies | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] || die "not one reply: $r"
r=$(result udp-long-length)
[ "$(field "$r" replies)" = "[]" ] || die "answered a UDP length past the IP payload: $r"
[ "$(summary drops.bad_length)" = 1 ] || die "drops.bad_length $(summary drops.bad_length), not 1"
log "  udp-short-length: echoed as the 13-byte datagram; udp-long-length: dropped as bad_length"

# RFC 1122 §3.2.1.3 / §4.2.3.10: nothing from a martian source is answered (no echo, no
# ICMP error, no SYN-ACK, no RST), and each is counted as martian_source.
martian_sent=0
for m in "${martians[@]}"; do
    r=$(result "martian:$m")
    [ "$(field "$r" replies)" = "[]" ] || die "answered packets from $m: $r"
    martian_sent=$((martian_sent + $(field "$r" sent)))
done
n=$(summary drops.martian_source)
[ "$n" = "$martian_sent" ] || die "drops.martian_source $n, not $martian_sent"
log "  martian sources: ${martians[*]}: $n packets dropped unanswered"

pass "${#cases[@]} kinds of crafted frame, each answered or dropped as its rule says"
