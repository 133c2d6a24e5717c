#!/usr/bin/env bash
# The floor programs of bench/compare.sh (bench/floor, docs/floor.md) answer as servers
# do, and the minimal client drives real servers: the kernel's sockperf client, which
# drops any datagram whose UDP checksum is wrong, gets replies from the XDP_TX reflector
# (and ping its ICMP echo replies) and from the AF_XDP reflector, so their incremental
# checksum updates hold; the minimal client gets every reply from the AF_XDP reflector
# and from xstack serve (over this test's driver), which finds none of them bad; and the
# client refuses any destination but 198.18.0.2. The reflectors run once, with xdp.
source "$(dirname "$0")/lib.sh"
FLOOR=$WORK/floor
"$ROOT/bench/floor/build.sh" "$FLOOR" || die "bench/floor/build.sh failed"

mac_b() {
    ip -n "$HX_NS_B" -o link show "$HX_IF_B" | awk '{for (i = 1; i < NF; i++) if ($i == "link/ether") print $(i + 1)}'
}

# client NAME ARGS...: the minimal client for 1 s; it must get replies, lose none and see
# no stray frame.
client() {
    local name=$1 got lost stray
    shift
    in_a timeout 20 "$FLOOR/afxdp_client" --iface "$HX_IF_A" --bpf "$FLOOR/xsk_redirect.bpf.o" \
        --src "$A" --dst-mac "$(mac_b)" --secs 1 "$@" >"$WORK/client.out" 2>"$WORK/client.err" \
        || die "afxdp_client against $name failed: $(tail -n 2 "$WORK/client.err")"
    read -r got lost stray < <(hx json "$WORK/client.out" requests lost stray)
    [ "$got" -gt 0 ] && [ "$lost" = 0 ] && [ "$stray" = 0 ] \
        || die "afxdp_client against $name: $got replies, $lost lost, $stray stray"
    pass "minimal client $* -> $name: $got replies, none lost, p50 $(hx json "$WORK/client.out" latency_us.p50) us"
}

# sockperf_ok NAME: one second of sockperf ping-pong; it must get replies.
sockperf_ok() {
    local out recv
    out=$(in_a timeout 20 sockperf ping-pong -i "$B" -p 11111 -m 64 -t 1 2>&1) \
        || die "sockperf against $1 failed: $out"
    recv=$(echo "$out" | grep -o 'ReceivedMessages=[0-9]*' | head -1 | cut -d= -f2)
    [ -n "$recv" ] && [ "$recv" -gt 0 ] || die "sockperf against $1 got no replies: $out"
    pass "sockperf -> $1: $recv replies"
}

if [ "$DRIVER" = xdp ]; then
    # The XDP_TX reflector, with XDP_PASS on xsa0 (veth's peer must run NAPI for XDP_TX).
    LAB_B_KERNEL=1 lab_up
    ip -n "$HX_NS_B" link set dev "$HX_IF_B" xdpdrv obj "$FLOOR/xdp_reflect.bpf.o" sec xdp \
        || die "cannot attach xdp_reflect.bpf.o to $HX_IF_B"
    ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv obj "$FLOOR/xdp_pass.bpf.o" sec xdp \
        || die "cannot attach xdp_pass.bpf.o to $HX_IF_A"
    in_a ping -c 3 -i 0.2 -W 2 "$B" >/dev/null || die "no ICMP echo reply from the XDP_TX reflector"
    pass "ping -> XDP_TX reflector"
    sockperf_ok "XDP_TX reflector"
    tx=$(in_b ethtool -S "$HX_IF_B" | awk '$1 == "rx_queue_0_xdp_tx:" {print $2}')
    [ "${tx:-0}" -gt 0 ] || die "the replies were not sent by XDP_TX (rx_queue_0_xdp_tx ${tx:-missing})"
    ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv off
    client "XDP_TX reflector" --flows 4

    # The AF_XDP reflector.
    LAB_B_KERNEL=1 lab_up
    hx_spawn RPID afxdp_reflect "$HX_NS_B" "$WORK/reflect.out" "$WORK/reflect.err" \
        "$FLOOR/afxdp_reflect" "$HX_IF_B" "$FLOOR/xsk_redirect.bpf.o"
    hx ready "$(_hx_ident "$RPID")" --what afxdp_reflect --stdout "$WORK/reflect.out" --stderr "$WORK/reflect.err" \
        --timeout 10 || die "afxdp_reflect never became ready: $(tail -n 2 "$WORK/reflect.err")"
    sockperf_ok "AF_XDP reflector"
    client "AF_XDP reflector" --flows 4
    hx_stop "$RPID" TERM 5 || die "afxdp_reflect did not stop on SIGTERM"
    answered=$(hx json "$WORK/reflect.out" answered) || die "afxdp_reflect printed no summary"
    [ "$answered" -gt 0 ] || die "afxdp_reflect answered nothing"
    pass "afxdp_reflect answered $answered frames"
fi

# The minimal client against xstack serve over this test's driver.
lab_up
serve_start --sockperf 11111
# The client's one destination is the lab's server, whatever it is asked.
if in_a "$FLOOR/afxdp_client" --iface "$HX_IF_A" --bpf "$FLOOR/xsk_redirect.bpf.o" --src "$A" \
    --dst 198.18.0.3 --dst-mac 02:00:00:00:00:01 --secs 1 >/dev/null 2>"$WORK/refused.err"; then
    die "afxdp_client accepted the destination 198.18.0.3"
fi
grep -q "refusing destination 198.18.0.3" "$WORK/refused.err" || die "no refusal: $(cat "$WORK/refused.err")"
pass "afxdp_client refuses a destination other than 198.18.0.2"

client "xstack serve" --flows 4
serve_stop
# What the kernel in xs-a sends on its own (IPv6 neighbour discovery and the like) may be
# dropped as not_for_us or unsupported; nothing of the client's may be malformed.
bad=$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))["drops"]
print(sum(d[k] for k in ("bad_checksum", "bad_length", "truncated", "malformed", "udp_closed_port")))' \
    "$WORK/summary.json")
[ "$bad" = 0 ] || die "xstack serve found $bad of the minimal client's frames bad: $(hx json "$WORK/summary.json" drops)"
pass "xstack serve found none of the minimal client's frames bad (checksums, lengths)"
