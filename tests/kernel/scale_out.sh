#!/usr/bin/env bash
# Scale-out: three xstack load instances, each in its own namespace with its own address
# (198.18.0.11-13), bridged to one xstack serve (198.18.0.2), started with the same
# --start-at. Each writes its JSON report and interval log; `xstack report` over the three
# logs must give a total equal to the sum of the three reports, the percentiles of a
# histogram built by adding the three logs with the Python hdrhistogram package (a reader
# nobody here wrote), one row per instance, and overlapping windows. Also: --start-at in
# the past or too far ahead is refused with a sentence.
#
# Topology (all made here and removed at exit): xs-so-l1..3 --veth-- xs-so-br (br0)
# --veth-- xs-so-b (serve).
LAB_A_PREFIX=xs-so-br LAB_IF_A=so-brb LAB_B_PREFIX=xs-so-b LAB_IF_B=so-b0
export LAB_A_PREFIX LAB_IF_A LAB_B_PREFIX LAB_IF_B
source "$(dirname "$0")/lib.sh"
PY_DEPS="$ROOT/.cache/python"

so_down() {
    for i in 1 2 3; do ip netns del "xs-so-l$i" 2>/dev/null || true; done
}
trap 'so_down; cleanup' EXIT

lab_up
# The bridge namespace holds only the bridge: its end of the serve link carries no address.
ip -n xs-so-br addr flush dev so-brb
ip -n xs-so-br link add br0 type bridge
ip -n xs-so-br link set so-brb master br0
so_down
for i in 1 2 3; do
    ns=xs-so-l$i
    ip netns add "$ns"
    ip link add "so-l${i}0" netns "$ns" type veth peer name "so-brl$i" netns xs-so-br
    ip -n xs-so-br link set "so-brl$i" master br0
    ip -n xs-so-br link set "so-brl$i" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "so-l${i}0" up
    ip netns exec "$ns" ethtool -K "so-l${i}0" tx off tso off gso off gro off >/dev/null 2>&1 || true
    ip netns exec xs-so-br ethtool -K "so-brl$i" tx off tso off gso off gro off >/dev/null 2>&1 || true
done
ip -n xs-so-br link set br0 up

serve_start --udp-echo 7

# --start-at must be ahead, and not too far.
for bad in "$(($(date +%s) - 60))" "$(($(date +%s) + 2 * 86400))"; do
    rc=0
    ip netns exec xs-so-l1 "$BIN" load --iface so-l10 --ip 198.18.0.11/24 --target "$B:7" \
        --proto udp --duration 1 --start-at "$bad" >/dev/null 2>"$WORK/bad.err" || rc=$?
    [ "$rc" = 1 ] || die "--start-at $bad: exit status $rc, not 1"
    grep -qE "in the past|more than a day" "$WORK/bad.err" || die "--start-at $bad: $(cat "$WORK/bad.err")"
done
pass "--start-at in the past or more than a day ahead is refused with a sentence"

at=$(($(date +%s) + 3))
pids=()
for i in 1 2 3; do
    hx_spawn pid "xstack load $i" "xs-so-l$i" "$WORK/l$i.json" "$WORK/l$i.err" \
        "$BIN" load --iface "so-l${i}0" --ip "198.18.0.1$i/24" --target "$B:7" --proto udp \
        --driver "$DRIVER" --poll adaptive --connections 2 --duration 2 --interval 0.5 --start-at "$at" \
        --instance "load-$i" --hdr-log "$WORK/l$i.hlog" --json
    pids+=("$pid")
done
for i in 1 2 3; do
    rc=0
    hx_wait "${pids[$((i - 1))]}" || rc=$?
    [ "$rc" = 0 ] || die "load $i failed ($rc): $(grep -v -E 'libbpf|libxdp' "$WORK/l$i.err" | tail -3)"
done
grep -q "waiting until" "$WORK/l1.err" || die "load 1 did not say that it waits for --start-at"
"$BIN" report --json "$WORK/l1.hlog" "$WORK/l2.hlog" "$WORK/l3.hlog" >"$WORK/report.json" \
    2>"$WORK/report.err" || die "xstack report failed: $(tail -3 "$WORK/report.err")"
"$BIN" report "$WORK/l1.hlog" "$WORK/l2.hlog" "$WORK/l3.hlog" >"$WORK/report.txt" 2>&1 \
    || die "xstack report (text) failed"
r=$(PYTHONPATH="$PY_DEPS" python3 "$KDIR/scale_out_check.py" "$WORK" 2>&1) || die "$r"
pass "3 instances, one window: $r"

serve_stop
[ "$(summary udp_echo_replies)" -gt 0 ] || die "serve echoed nothing"
pass "serve echoed $(summary udp_echo_replies) datagrams for the three instances"
