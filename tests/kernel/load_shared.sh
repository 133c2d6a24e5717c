#!/usr/bin/env bash
# Load in shared-address mode: xstack load runs in xs-a from the kernel's own address
# 198.18.0.1 (--shared), against kernel echo servers in xs-b. The kernel keeps its ARP,
# its ping, its own servers and its own outgoing connections on that address while the
# load runs: xstack's XDP program takes only the replies to xstack's source ports, which
# it picks above the kernel's ephemeral range, and the target's MAC comes from the
# kernel's neighbour table. Ports the kernel may use are refused with a sentence, and so
# is AF_PACKET, which cannot share.
source "$(dirname "$0")/lib.sh"
export LAB_B_KERNEL=1
lab_up

# shared_load OUT ERR ARGS...: xstack load --shared from the kernel's $A (foreground).
shared_load() {
    local out=$1 err=$2
    shift 2
    ip netns exec "$HX_NS_A" "$HX_BIN" load --iface "$HX_IF_A" --ip "$A/$HX_PREFIX" --shared \
        --driver "$DRIVER" --json "$@" </dev/null >"$out" 2>"$err"
}

if [ "$DRIVER" = packet ]; then
    rc=0
    shared_load "$WORK/l.out" "$WORK/l.err" --target "$B:7" --proto udp --duration 1 || rc=$?
    [ "$rc" = 2 ] || [ "$rc" = 1 ] || die "--shared with --driver packet: exit $rc"
    grep -q "it needs --driver xdp" "$WORK/l.err" || die "no reason given: $(cat "$WORK/l.err")"
    pass "--shared refused on AF_PACKET: $(grep -m1 xdp "$WORK/l.err")"
    exit 0
fi

peer_start "$HX_NS_B" tcp:7 python3 "$KDIR/tcp_echo_server.py" "$B" 7
peer_start "$HX_NS_B" udp:7 python3 "$KDIR/udp_echo_server.py" "$B" 7 60
# A kernel server of xs-a's own, on the shared address.
peer_start "$HX_NS_A" tcp:8080 python3 "$KDIR/tcp_echo_server.py" "$A" 8080
# The kernel has forgotten the target: xstack must have the kernel resolve it.
in_a ip neigh flush dev "$HX_IF_A"

# TCP load in the background while the kernel uses the same address.
hx_spawn LOAD_PID load "$HX_NS_A" "$WORK/load.out" "$WORK/load.err" "$HX_BIN" load \
    --iface "$HX_IF_A" --ip "$A/$HX_PREFIX" --shared --driver xdp --json --target "$B:7" --proto tcp \
    --connections 8 --duration 4
sleep 1
hx_running "$LOAD_PID" || die "load exited early: $(tail -3 "$WORK/load.err")"
in_a ping -c 20 -i 0.02 -W 1 "$B" >"$WORK/ping" || die "the kernel's ping from $A: $(tail -2 "$WORK/ping")"
in_b ping -c 20 -i 0.02 -W 1 "$A" >"$WORK/ping2" || die "ping to the kernel's $A: $(tail -2 "$WORK/ping2")"
res=$(in_a timeout 60 python3 "$KDIR/tcp_echo_check.py" "$B" 7 5 65536 50) \
    || die "the kernel's own connections from $A during the load: $res"
res2=$(in_b timeout 60 python3 "$KDIR/tcp_echo_check.py" "$A" 8080 5 65536 20) \
    || die "the kernel's server on $A:8080 during the load: $res2"
rc=0
hx_wait "$LOAD_PID" || rc=$?
[ "$rc" = 0 ] || die "xstack load --shared exited $rc: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
[ "$(load_json errors)" = 0 ] || die "load errors: $(load_json errors_by_kind)"
[ "$(load_json requests)" -gt 1000 ] || die "only $(load_json requests) requests"
[ "$(load_json config.shared)" = true ] || die "config.shared is $(load_json config.shared)"
ports=$(load_json config.ports)
range=$(in_a cat /proc/sys/net/ipv4/ip_local_port_range | awk '{print $2}')
[ "${ports%-*}" -gt "$range" ] || die "source ports $ports overlap the kernel's (to $range)"
[ "$(load_json stack.arp_replies)" = 0 ] || die "xstack answered $(load_json stack.arp_replies) ARP requests: the kernel's"
tcp="$(load_json requests) TCP requests from ports $ports, $(load_json errors) errors, XDP program $(load_json xdp.redirected) redirected / $(load_json xdp.passed) passed"

# UDP the same way.
shared_load "$WORK/load.out" "$WORK/load.err" --target "$B:7" --proto udp --connections 4 --duration 2 \
    || die "UDP load --shared: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
[ "$(load_json errors)" = 0 ] || die "UDP load errors: $(load_json errors_by_kind)"
udp="$(load_json requests) UDP requests"
if ip -n "$HX_NS_A" link show "$HX_IF_A" | grep -q prog/xdp; then
    die "an XDP program is still attached to $HX_IF_A after load stopped"
fi

# Ports the kernel may use, or holds, are refused with a sentence.
rc=0
shared_load "$WORK/l.out" "$WORK/l.err" --target "$B:7" --proto tcp --ports 50000-50100 --duration 1 || rc=$?
[ "$rc" = 1 ] || die "--ports inside the kernel's range: exit $rc, not 1"
grep -q "overlaps the kernel's own ephemeral ports" "$WORK/l.err" || die "no reason given: $(cat "$WORK/l.err")"
peer_start "$HX_NS_A" udp:62000 python3 "$KDIR/udp_echo_server.py" "$A" 62000 60
rc=0
shared_load "$WORK/l.out" "$WORK/l.err" --target "$B:7" --proto udp --duration 1 || rc=$?
[ "$rc" = 1 ] || die "a kernel socket on a port xstack would take: exit $rc, not 1"
grep -q "a kernel udp socket holds port 62000" "$WORK/l.err" || die "no reason given: $(cat "$WORK/l.err")"
pass "$tcp; $udp; meanwhile the kernel's ping, its server on $A:8080 and its own connections from $A all worked; the kernel's ports and sockets refused"
