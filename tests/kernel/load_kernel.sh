#!/usr/bin/env bash
# xstack load in xs-a (owning 198.18.0.10 on xsa0) against servers nobody here wrote, run
# by the kernel in xs-b on 198.18.0.2: a UDP echo server and sockperf's server.
# Closed loop with 4 flows, open loop at a fixed rate, and --app sockperf.
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
peer_start xs-b udp:7 python3 "$KDIR/udp_echo_server.py" "$B" 7 60
peer_start xs-b udp:11111 timeout 120 sockperf server -i "$B" -p 11111
load() { xstack_load --interval 1 "$@"; }
load --target "$B:7" --proto udp --connections 4 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --in-place) || die "$r"
pass "udp pingpong x4 vs kernel echo: $r"
load --target "$B:7" --proto udp --connections 2 --duration 2 --rate 5000 --hdr-log "$WORK/x.hlog"
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --open-loop) || die "$r"
pass "udp open loop 5000/s vs kernel echo: $r"
"$BIN" plot "$WORK/x.hlog" -o "$WORK/x.svg" 2>/dev/null || die "xstack plot could not read the log"
load --target "$B:11111" --proto udp --app sockperf --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out" --in-place) || die "$r"
pass "udp pingpong vs sockperf server: $r"
# One request on each of 200 flows: all 200 leave in one flush, more than one AF_XDP kick
# sends (32 descriptors on veth). With no later frame to send, the rest of the burst
# must still go out, not wait on the TX ring until the requests time out.
xstack_load --interval 1 --target "$B:7" --proto udp --connections 200 --requests 200 --timeout-ms 2000
[ "$(load_json requests)" = 200 ] && [ "$(load_json errors)" = 0 ] \
    || die "a burst of 200 requests: $(load_json requests) answered, $(load_json errors_by_kind)"
pass "a burst of 200 requests in one flush: all 200 answered"
# Nothing succeeds against a closed port: the run completes, says why, and exits 3.
xstack_load_status 3 --interval 1 --target "$B:9" --proto udp --requests 5 --timeout-ms 200
[ "$(load_json outcome.status)" = no_success ] || die "outcome $(load_json outcome)"
[ "$(load_json errors_by_kind.refused)" = 5 ] \
    || die "a closed port was not reported as refused: $(load_json errors_by_kind)"
pass "a closed UDP port counts as refused, and the run exits 3"
