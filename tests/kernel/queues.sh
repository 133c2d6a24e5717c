#!/usr/bin/env bash
# --queues 2 on a two-queue veth: one worker per queue (AF_XDP: a socket per queue;
# AF_PACKET: a fanout group). Every request is answered exactly once. TCP connections
# belong to one worker each: by default the one whose queue the SYN arrived on, and the
# kernel client keeps a socket on one transmit queue, so (nearly) nothing is handed over;
# with XSTACK_SERVE_STEER=peer (the older rule, by a hash of the peer) about half of the
# connections belong to the other worker, and their segments are handed to the owner.
LAB_QUEUES=2
export LAB_QUEUES
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --queues 2 --udp-echo 7 --tcp-echo 7
# On a veth, --xdp-mode auto takes native for more than one queue: generic XDP would
# take every frame in on queue 0.
if [ "$DRIVER" = xdp ]; then
    grep -q -- "--xdp-mode auto chose native on $HX_IF_B: its driver is veth and 2 queues" "$WORK/serve.err" \
        || die "auto did not choose native for 2 queues on a veth: $(grep -- '--xdp-mode' "$WORK/serve.err")"
fi
out=$(in_a ping -c 50 -i 0.01 -W 1 "$B" 2>&1) || true
echo "$out" | grep -q " 0% packet loss" || die "ping lost packets: $out"
echo "$out" | grep -q "duplicates" && die "duplicate replies: $(echo "$out" | grep duplicates)"
for flow in 1 2 3 4 5 6; do
    res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 300 "$flow") || die "flow $flow: $res"
done
res=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 16 65536 200) || die "tcp: $res"
log "$res"
sleep 0.5
serve_stop
[ "$(summary udp_echo_replies)" = 1800 ] || die "udp_echo_replies $(summary udp_echo_replies), not 1800"
expect_all_fin 216
moved=$(summary steered_out)
[ "$moved" = "$(summary steered_in)" ] || die "steered_out $moved but steered_in $(summary steered_in)"
[ "$(summary drops.steer_full)" = 0 ] || die "$(summary drops.steer_full) frames lost between workers"
[ "$(summary drops.tcp_owned_elsewhere)" = 0 ] || die "$(summary drops.tcp_owned_elsewhere) SYNs met another worker's entry"
# Near zero: a connection moves queue only if the kernel re-picks its queue (a
# retransmission timeout rehashes it); by the peer hash this is ~25 a connection.
per=$(python3 -c "print(f'{$moved / 216:.3f}')")
python3 -c "import sys; sys.exit(0 if $moved / 216 <= 0.05 else 1)" \
    || die "$moved frames handed over for 216 TCP connections ($per a connection): not owned by arrival"
pass "2 workers: ping without duplicates, 6 flows x 300 datagrams echoed exactly once;" \
    "216 TCP connections all closed by FIN, $moved frames handed over ($per a connection)"

# The older rule, by the peer hash: the hand-off path, against the kernel's TCP.
XSTACK_SERVE_STEER=peer serve_start --queues 2 --tcp-echo 7
res=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 16 65536 50) || die "by peer, tcp: $res"
sleep 0.5
serve_stop
expect_all_fin 66
moved=$(summary steered_out)
[ "$moved" -gt 0 ] || die "by peer: no segment landed on the other worker: the hand-off went untested"
[ "$moved" = "$(summary steered_in)" ] || die "by peer: steered_out $moved but steered_in $(summary steered_in)"
[ "$(summary drops.steer_full)" = 0 ] || die "by peer: $(summary drops.steer_full) frames lost between workers"
pass "2 workers owning by the peer hash: 66 TCP connections all closed by FIN, $moved segments handed to their owner"

# A bad value is refused at the start, with a sentence.
if err=$(XSTACK_SERVE_STEER=queue ip netns exec "$HX_NS_B" timeout 10 "$BIN" serve --iface xs-none \
    --ip "$B/24" --tcp-echo 7 2>&1); then
    die "serve started with XSTACK_SERVE_STEER=queue"
fi
echo "$err" | grep -q "XSTACK_SERVE_STEER" || die "XSTACK_SERVE_STEER=queue: $err"

# AF_XDP with one UMEM for both queues' sockets: the same checks, smaller.
if [ "$DRIVER" = xdp ]; then
    serve_start --queues 2 --udp-echo 7 --tcp-echo 7 --umem shared
    grep -q "shared UMEM" "$WORK/serve.err" || die "serve did not report a shared UMEM"
    for flow in 1 2 3 4; do
        res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 300 "$flow") || die "shared UMEM, flow $flow: $res"
    done
    res=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 8 65536 50) || die "shared UMEM, tcp: $res"
    sleep 0.5
    serve_stop
    [ "$(summary udp_echo_replies)" = 1200 ] || die "shared UMEM: udp_echo_replies $(summary udp_echo_replies), not 1200"
    expect_all_fin 58
    pass "2 workers on one shared UMEM: 4 flows x 300 datagrams echoed once, 58 TCP connections all closed by FIN"
fi
