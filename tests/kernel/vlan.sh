#!/usr/bin/env bash
# 802.1Q-tagged frames are for another LAN: xstack must not answer them (untagged, as if
# they were for its own) and must count them as vlan_tagged. Two kinds:
#   - tags in the frame, sent from an AF_PACKET socket in xs-a (crafted.py vlan): one
#     VLAN tag and a double (802.1ad + 802.1Q) tag;
#   - tags the kernel keeps outside the frame, in the skb, as a VLAN sub-interface of
#     xsa0 would send them (this kernel has no 8021q, so a tc classifier, vlan_push.c,
#     tags what the kernel sends from 198.18.5.1): a ping, UDP echo and a TCP connect
#     from the kernel's own sockets.
# On AF_PACKET the kernel strips either tag from the frame into PACKET_AUXDATA; AF_XDP on
# veth sees an in-frame tag but not an offloaded one (see docs/drivers.md). xstack's XDP
# program passes in-frame tagged frames to the kernel, so on AF_XDP they count as
# xdp.passed, not vlan_tagged.
source "$(dirname "$0")/lib.sh"
VSRC=198.18.5.1
lab_up
command -v clang >/dev/null || die "clang is needed to build vlan_push.c (scripts/setup.sh installs it)"
clang -O2 -target bpf -c "$KDIR/vlan_push.c" -o "$WORK/vlan_push.o" || die "vlan_push.c did not build"
serve_start --tcp-echo 7 --udp-echo 7
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')

# 1. Tags in the frame.
in_a python3 "$KDIR/crafted.py" "$HX_IF_A" "$mac" "$A" "$B" vlan >"$WORK/crafted.out" \
    || die "crafted.py failed: $(cat "$WORK/crafted.out")"
inband=$(hx json "$WORK/crafted.out" sent)
[ "$(hx json "$WORK/crafted.out" replies)" = "[]" ] \
    || die "answered tagged frames: $(cat "$WORK/crafted.out")"
log "  $inband frames with the tag in the frame: none answered"

# 2. Tags outside the frame, from the kernel's sockets.
in_a ip addr add "$VSRC/24" dev "$HX_IF_A"
in_a tc qdisc add dev "$HX_IF_A" clsact
in_a tc filter add dev "$HX_IF_A" egress bpf da obj "$WORK/vlan_push.o" sec classifier \
    || die "could not attach the tc classifier"
answered=0
in_a ping -c 3 -i 0.2 -W 1 -I "$VSRC" "$B" >"$WORK/ping.out" 2>&1 && answered=$((answered + 1))
in_a python3 - "$VSRC" "$B" >"$WORK/sock.out" <<'PY' || answered=$((answered + 1))
import socket, sys
src, dst = sys.argv[1:3]
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 0))
u.settimeout(0.5)
ok = []
for _ in range(3):
    u.sendto(b"tagged", (dst, 7))
    try:
        ok.append(u.recv(100) == b"tagged")
    except socket.timeout:
        pass
t = socket.socket()
t.bind((src, 0))
t.settimeout(1.5)
try:
    t.connect((dst, 7))
    ok.append(True)
except OSError:
    pass
print(f"{len(ok)} answers")
sys.exit(1 if ok else 0)
PY
in_a tc filter del dev "$HX_IF_A" egress
alive "$SERVE_PID" || die "xstack died on tagged frames"
serve_stop
tagged=$(summary drops.vlan_tagged)
log "  offloaded tags: ping: $(grep -o '[0-9]* received' "$WORK/ping.out"), UDP and TCP: $(cat "$WORK/sock.out")"
log "  drops.vlan_tagged = $tagged"
[ "$(summary icmp_echo_replies)" = 0 ] || [ "$DRIVER" = xdp ] \
    || die "$(summary icmp_echo_replies) pings on VLAN 5 answered"
if [ "$DRIVER" = xdp ]; then
    # Known gap: on veth, XDP sees a frame whose tag the kernel holds outside it, with no
    # sign of it short of the bpf_xdp_metadata_rx_vlan_tag kfunc, which xstack's XDP
    # program does not call (yet). Only the in-frame tags can be checked here: the
    # program leaves them to the kernel (they are another LAN's).
    [ "$tagged" = 0 ] || die "drops.vlan_tagged $tagged: the XDP program should have passed the tagged frames to the kernel"
    [ "$(summary xdp.passed)" -ge "$inband" ] \
        || die "the XDP program passed $(summary xdp.passed) frames, fewer than the $inband tagged ones"
    log "  KNOWN GAP (AF_XDP): offloaded tags are invisible to the XDP program; $answered of 2 kinds answered"
    pass "in-frame tags left to the kernel by the XDP program ($(summary xdp.passed) frames passed), none answered; offloaded tags: the known gap above"
    exit 0
else
    [ "$answered" = 0 ] || die "answered the kernel's tagged packets: $(cat "$WORK/ping.out" "$WORK/sock.out")"
    # 3 pings, 3 datagrams, and the SYN with its retransmissions in 1.5 s.
    [ "$tagged" -ge $((inband + 7)) ] || die "drops.vlan_tagged $tagged, not at least $((inband + 7))"
fi
pass "tagged frames dropped as vlan_tagged ($tagged), none answered untagged"
