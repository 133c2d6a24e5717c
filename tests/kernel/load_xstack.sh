#!/usr/bin/env bash
# xstack load against xstack serve, both on the same driver: UDP echo and sockperf.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --udp-echo 7 --sockperf 11111
load() {
    ip netns exec xs-a "$BIN" load --iface xsa0 --ip "$LOADGEN/24" --driver "$DRIVER" --json \
        "$@" >"$WORK/load.out" 2>"$WORK/load.err" \
        || die "xstack load $* failed: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
}
load --target "$B:7" --proto udp --connections 8 --duration 2
pass "udp echo x8: $(python3 "$KDIR/load_check.py" "$WORK/load.out")"
load --target "$B:11111" --proto udp --app sockperf --duration 2 --rate 10000
pass "sockperf open loop 10000/s: $(python3 "$KDIR/load_check.py" "$WORK/load.out" --open-loop)"
serve_stop
