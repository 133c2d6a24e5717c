#!/usr/bin/env bash
# xstack load over IPv6 (2001:2::10/64, beside its IPv4 address) against the kernel's
# servers on 2001:2::2 in xs-b: UDP and TCP echo (ping-pong, open loop, crr, stream);
# the peer resolved by neighbour discovery; a closed UDP port counts as refused from the
# ICMPv6 port unreachable. (sockperf 3.7, the Debian package, has no IPv6; xstack load
# against xstack serve over IPv6, sockperf included, is in load_xstack.sh.)
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
K6=2001:2::2
peer_start "$HX_NS_B" tcp:7 timeout 120 python3 "$KDIR/tcp_echo_server.py" "$K6" 7
peer_start "$HX_NS_B" udp:7 timeout 120 python3 "$KDIR/udp_echo_server.py" "$K6" 7 60
load6() { xstack_load --ip 2001:2::10/64 --interval 1 --target "[$K6]:${PORT:-7}" "$@"; }
check() { python3 "$KDIR/load_check.py" "$WORK/load.out" "$@" || die "bad report"; }
load6 --proto udp --connections 4 --duration 2
r=$(check) || die "$r"
pass "udp echo over IPv6 vs the kernel: $r"
load6 --proto udp --connections 4 --duration 2 --rate 5000
r=$(check --open-loop) || die "$r"
pass "udp open loop 5000/s over IPv6 vs the kernel: $r"
load6 --proto tcp --connections 8 --duration 2
r=$(check) || die "$r"
pass "tcp echo over IPv6 vs the kernel: $r"
load6 --proto tcp --mode crr --connections 2 --duration 2
r=$(check) || die "$r"
pass "tcp crr over IPv6 vs the kernel: $r"
load6 --proto tcp --mode stream --connections 2 --duration 2
r=$(check) || die "$r"
pass "tcp stream over IPv6 vs the kernel: $r"
[ "$(load_json stack.ndp_solicitations_sent)" -ge 1 ] || die "the target was not resolved by neighbour discovery"
# A closed port: the kernel's ICMPv6 port unreachable comes back to its flow.
hx_load "$WORK/load.out" "$WORK/load.err" --driver "$DRIVER" --json --ip 2001:2::10/64 \
    --target "[$K6]:9" --proto udp --requests 5 --timeout-ms 300 || true
[ "$(load_json errors_by_kind.refused)" = 5 ] || die "a closed UDP port over IPv6: $(load_json errors_by_kind)"
pass "a closed UDP port over IPv6 counts as refused"
