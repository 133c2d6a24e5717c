#!/usr/bin/env bash
# The veth lab: two network namespaces joined by a veth pair.
#
#   xs-a  (the kernel peer)            xs-b  (xstack's side)
#   xsa0  198.18.0.1/24   <--veth-->   xsb0  no kernel address: xstack owns 198.18.0.2
#         2001:2::1/64                      xstack owns 2001:2::2/64 when a test asks
#
# Usage: scripts/lab.sh up|down|status
# Environment:
#   LAB_QUEUES=N       make the veth pair with N RX/TX queues (default 1)
#   LAB_B_KERNEL=1     also give xsb0 the kernel address 198.18.0.2/24, for tests where
#                      the kernel (not xstack) is the server in xs-b
#   LAB_OFFLOADS=default  keep the kernel's default veth offloads (TX checksum, TSO, GSO,
#                      GRO on), as a hand-made veth pair has them; the default, `off`,
#                      turns them off as below
#   LAB_BRIDGE=1       put a third namespace between the two ends: xsa0 and xsb0 are
#                      each one end of a veth pair whose other end (xsa0br, xsb0br) is a
#                      port of the bridge xsbr0 in xs-br, so that loss can be injected on
#                      the path (nftables on the bridge ports) where neither end's kernel
#                      can see it happen and send again at once (docs/lab.md)
#   LAB_A_PREFIX / LAB_B_PREFIX / LAB_BR_PREFIX / LAB_NET   rename the lab (defaults
#                      xs-a, xs-b, xs-br, 198.18.0)
#
# Offloads, as measured in docs/lab.md: the kernel peer's TX checksum offload is turned
# off (otherwise xstack receives partial checksums), and TSO/GSO too (otherwise it
# receives 64 KB super-frames). Addresses come only from 198.18.0.0/15.
set -euo pipefail

NS_A=${LAB_A_PREFIX:-xs-a}
NS_B=${LAB_B_PREFIX:-xs-b}
NS_BR=${LAB_BR_PREFIX:-xs-br}
IF_A=${LAB_IF_A:-xsa0}
IF_B=${LAB_IF_B:-xsb0}
NET=${LAB_NET:-198.18.0}
NET6=${LAB_NET6:-2001:2}
QUEUES=${LAB_QUEUES:-1}
OFFLOADS=${LAB_OFFLOADS:-off}
BRIDGE=${LAB_BRIDGE:-0}
BR_IF=xsbr0

case "$OFFLOADS" in
off | default) ;;
*) echo "lab.sh: LAB_OFFLOADS must be off or default, not $OFFLOADS" >&2; exit 2 ;;
esac

case "$NET" in
198.18.* | 198.19.*) ;;
*) echo "lab.sh: LAB_NET must be inside 198.18.0.0/15, not $NET" >&2; exit 2 ;;
esac

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "lab.sh: creating network namespaces needs root: run it with sudo" >&2
        exit 1
    fi
}

down() {
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
    ip netns del "$NS_BR" 2>/dev/null || true
}

# offloads_off NS IF: full checksums and MTU-sized frames from the kernel (docs/lab.md).
offloads_off() {
    ip netns exec "$1" ethtool -K "$2" tx off tso off gso off gro off >/dev/null 2>&1 || true
}

up() {
    down
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    if [ "$BRIDGE" = 1 ]; then
        ip netns add "$NS_BR"
        ip link add "$IF_A" netns "$NS_A" numtxqueues "$QUEUES" numrxqueues "$QUEUES" type veth \
            peer name "${IF_A}br" netns "$NS_BR" numtxqueues "$QUEUES" numrxqueues "$QUEUES"
        ip link add "$IF_B" netns "$NS_B" numtxqueues "$QUEUES" numrxqueues "$QUEUES" type veth \
            peer name "${IF_B}br" netns "$NS_BR" numtxqueues "$QUEUES" numrxqueues "$QUEUES"
        ip -n "$NS_BR" link add "$BR_IF" type bridge stp_state 0 forward_delay 0
        for port in "${IF_A}br" "${IF_B}br"; do
            ip -n "$NS_BR" link set "$port" master "$BR_IF"
            ip -n "$NS_BR" link set "$port" up
            # The bridge passes frames as they come; GRO on its ports would merge
            # segments into super-frames that no end asked for.
            offloads_off "$NS_BR" "$port"
        done
        ip -n "$NS_BR" link set lo up
        ip -n "$NS_BR" link set "$BR_IF" up
        offloads_off "$NS_BR" "$BR_IF"
    else
        ip link add "$IF_A" netns "$NS_A" numtxqueues "$QUEUES" numrxqueues "$QUEUES" type veth \
            peer name "$IF_B" netns "$NS_B" numtxqueues "$QUEUES" numrxqueues "$QUEUES"
    fi
    ip -n "$NS_A" addr add "$NET.1/24" dev "$IF_A"
    if [ "${LAB_B_KERNEL:-0}" = 1 ]; then
        ip -n "$NS_B" addr add "$NET.2/24" dev "$IF_B"
    fi
    for ns in "$NS_A" "$NS_B"; do
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_A" link set "$IF_A" up
    ip -n "$NS_B" link set "$IF_B" up
    # Full checksums and MTU-sized frames from the kernel on both sides (docs/lab.md),
    # unless the lab is to look like a veth pair made by hand.
    if [ "$OFFLOADS" = off ]; then
        offloads_off "$NS_A" "$IF_A"
        offloads_off "$NS_B" "$IF_B"
    fi
    # The kernel in xs-a must not think it owns the lab's other addresses.
    ip netns exec "$NS_A" sysctl -qw net.ipv4.conf.all.rp_filter=0 >/dev/null
    # IPv6 (RFC 5180's benchmarking range): the kernel peer in xs-a has 2001:2::1/64,
    # without duplicate address detection, so that tests need not wait for it; the
    # kernel in xs-b keeps IPv6 off (xstack owns 2001:2::2 there when a test asks), or
    # with LAB_B_KERNEL=1 has 2001:2::2/64 itself.
    if [ "${LAB_B_KERNEL:-0}" = 1 ]; then
        ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.all.accept_dad=0 >/dev/null
        ip netns exec "$NS_B" sysctl -qw "net.ipv6.conf.$IF_B.accept_dad=0" >/dev/null
        ip -n "$NS_B" addr add "${NET6}::2/64" dev "$IF_B" nodad
    else
        ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 >/dev/null
    fi
    ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.all.accept_dad=0 >/dev/null
    ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.default.accept_dad=0 >/dev/null
    ip netns exec "$NS_A" sysctl -qw "net.ipv6.conf.$IF_A.accept_dad=0" >/dev/null
    ip -n "$NS_A" addr add "${NET6}::1/64" dev "$IF_A" nodad
}

status() {
    for ns in "$NS_A" "$NS_B" "$NS_BR"; do
        if ip netns list | grep -qw "$ns"; then
            echo "== $ns"
            ip -n "$ns" -brief addr
            ip -n "$ns" link show | grep -E 'prog/xdp' || true
        else
            echo "== $ns: not present"
        fi
    done
}

case "${1:-}" in
up) need_root; up ;;
down) need_root; down ;;
status) status ;;
*) echo "usage: scripts/lab.sh up|down|status" >&2; exit 2 ;;
esac
