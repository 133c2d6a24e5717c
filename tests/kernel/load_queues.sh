#!/usr/bin/env bash
# xstack load --queues 2 on a two-queue veth against the kernel's UDP and TCP echo servers
# in xs-b. Each load worker owns half of the connections and of the ephemeral ports; the
# kernel picks the queue of its replies by its own hash, so about half of them land on
# the other worker and are handed over. No request may be lost on the way.
LAB_QUEUES=2
LAB_B_KERNEL=1
export LAB_QUEUES LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
peer_start xs-b udp:7 python3 "$KDIR/udp_echo_server.py" "$B" 7 60
peer_start xs-b tcp:7 timeout 120 python3 "$KDIR/tcp_echo_server.py" "$B" 7
load() { xstack_load --interval 1 --queues 2 "$@"; }
# steered: the report's steered_frames, once it says it ran 2 workers.
steered() {
    local q s
    read -r q s < <(load_json queues steered_frames) || true
    [ "$q" = 2 ] || die "the load report says queues '$q', not 2: $(tail -n 1 "$WORK/load.out")"
    echo "$s"
}
load --target "$B:7" --proto udp --connections 16 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
moved=$(steered) || exit 1
pass "udp pingpong x16 on 2 workers: $r, $moved replies handed over"
load --target "$B:7" --proto tcp --connections 16 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
moved=$(steered) || exit 1
pass "tcp pingpong x16 on 2 workers: $r, $moved segments handed over"
load --target "$B:7" --proto tcp --mode crr --connections 4 --duration 2
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "$r"
moved=$(steered) || exit 1
[ "$moved" -gt 0 ] || die "no segment landed on the other worker: the hand-off went untested"
pass "tcp crr on 2 workers: $r, $moved segments handed over"
sleep 0.5
left=$(in_b ss -tanH | grep -v LISTEN | grep -v TIME-WAIT | grep -c "$LOADGEN" || true)
[ "$left" = 0 ] || die "the kernel still holds $left open connections from the load generator: $(in_b ss -tanH | grep -v LISTEN | head -3)"
pass "no open connection left on the kernel's side"
