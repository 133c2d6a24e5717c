#!/usr/bin/env bash
# xstack load --proto tcp in xs-a (owning 198.18.0.10 on xsa0) against TCP servers nobody
# here wrote, run by the kernel in xs-b on 198.18.0.2: an echo server (tcp_echo_server.py)
# and sockperf's server over TCP. Ping-pong with 16 connections, crr, open loop, stream,
# and --app sockperf; afterwards the kernel holds no connection from us.
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
peer_start xs-b tcp:7 timeout 120 python3 "$KDIR/tcp_echo_server.py" "$B" 7
peer_start xs-b tcp:11111 timeout 120 sockperf server --tcp -i "$B" -p 11111
load() { xstack_load --interval 1 --proto tcp "$@"; }
check() { python3 "$KDIR/load_check.py" "$WORK/load.out" "$@" || die "bad report"; }
load --target "$B:7" --connections 16 --duration 2
r=$(check) || die "$r"
pass "tcp pingpong x16 vs kernel echo: $r"
load --target "$B:7" --mode crr --connections 2 --duration 2
r=$(check) || die "$r"
pass "tcp crr vs kernel echo: $r"
load --target "$B:7" --connections 4 --duration 2 --rate 10000
r=$(check --open-loop) || die "$r"
pass "tcp open loop 10000/s vs kernel echo: $r"
load --target "$B:7" --mode stream --connections 2 --duration 2
r=$(check) || die "$r"
pass "tcp stream vs kernel echo: $r"
load --target "$B:11111" --app sockperf --duration 2
r=$(check) || die "$r"
pass "tcp pingpong vs sockperf server --tcp: $r"
# Nothing succeeds against a closed port: the run completes, says why, and exits 3.
xstack_load_status 3 --interval 1 --proto tcp --target "$B:9" --requests 5 --timeout-ms 200
[ "$(load_json outcome.status)" = no_success ] || die "outcome $(load_json outcome)"
[ "$(load_json errors_by_kind.refused)" = 5 ] \
    || die "a closed TCP port was not reported as refused: $(load_json errors_by_kind)"
pass "a closed TCP port counts as refused, and the run exits 3"
sleep 0.5
left=$(in_b ss -tanH | grep -v LISTEN | grep -c "$LOADGEN" || true)
[ "$left" = 0 ] || die "the kernel still holds $left connections from the load generator: $(in_b ss -tanH | grep -v LISTEN | head -3)"
pass "no connection left on the kernel's side"
