#!/usr/bin/env bash
# serve --reflect-in-xdp: the kernel's ping, a kernel UDP client checking every echo byte
# for byte, and the real sockperf client (ping-pong, under-load replying to every
# message, throughput asking for no reply) are answered by xstack's XDP program with
# XDP_TX: the program's `reflected_in_xdp` counters hold them all, and the stack's own
# echo and sockperf counters stay at zero. TCP echo beside it still goes to the stack.
# First, hand-made requests (reflect_frames.py: edge cases of checksums, padding, IP
# options, fragments, martian sources, sockperf flags) must get the very same reply
# frames, byte for byte, from the stack (without the flag) and from XDP (with it).
# Then generic mode (what --xdp-mode auto picks on a veth), then native, where a
# reply sent with XDP_TX reaches the peer only while the peer's veth runs NAPI: the
# test attaches the bench's XDP_PASS program to the peer for that round, as
# bench/compare.sh does (docs/floor.md). With the packet driver the flag must be
# refused, in one sentence. Last, on an address shared with the kernel (--claim udp:7),
# the claimed UDP echo port is answered in XDP and the pings are left to the kernel.
source "$(dirname "$0")/lib.sh"

if [ "$DRIVER" = packet ]; then
    rc=0
    out=$("$BIN" serve --iface "$HX_IF_B" --ip "$B/$HX_PREFIX" --driver packet \
        --udp-echo 7 --reflect-in-xdp 2>&1) || rc=$?
    [ "$rc" != 0 ] || die "serve --driver packet --reflect-in-xdp was accepted"
    echo "$out" | grep -q "reflect-in-xdp answers in xstack's XDP program, and --driver packet has none" \
        || die "serve --driver packet --reflect-in-xdp said: $out"
    pass "--driver packet --reflect-in-xdp refused (exit $rc): $out"
    exit 0
fi

lab_up
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')

# frames NAME ARGS...: the hand-made requests against serve ARGS; replies in $WORK/NAME.
frames() {
    local name=$1
    shift
    serve_start --udp-echo 7 --sockperf 11111 "$@"
    in_a python3 "$KDIR/reflect_frames.py" "$HX_IF_A" "$mac" "$A" "$B" >"$WORK/$name" \
        || die "reflect_frames.py failed: $(cat "$WORK/$name")"
    alive "$SERVE_PID" || die "xstack died on the hand-made frames"
    serve_stop
    cp "$WORK/summary.json" "$WORK/$name.json"
}
frames stack.out
for c in icmp_echo_replies udp_echo_replies sockperf_replies sockperf_no_reply; do
    eval "stack_$c=\$(summary $c)"
done
frames xdp.out --reflect-in-xdp
[ "$(summary config.reflect_in_xdp)" = true ] || die "config.reflect_in_xdp is not true"
[ "$(summary reflected_in_xdp)" != null ] || die "the summary has no reflected_in_xdp counters"
if ! diff "$WORK/stack.out" "$WORK/xdp.out" >"$WORK/frames.diff"; then
    die "XDP's replies differ from the stack's: $(cat "$WORK/frames.diff")"
fi
# What each side answered: the stack all of them; with the flag, XDP all but the two
# the stack keeps (IP options, a UDP length short of the IP payload).
want="6 6 6 1"
[ "$stack_icmp_echo_replies $stack_udp_echo_replies $stack_sockperf_replies $stack_sockperf_no_reply" = "$want" ] \
    || die "without the flag the stack answered icmp/udp/sockperf/no-reply $stack_icmp_echo_replies $stack_udp_echo_replies $stack_sockperf_replies $stack_sockperf_no_reply, not $want"
got="$(summary reflected_in_xdp.icmp_echo) $(summary reflected_in_xdp.udp_echo) $(summary reflected_in_xdp.sockperf) $(summary reflected_in_xdp.sockperf_no_reply)"
[ "$got" = "5 5 6 1" ] || die "XDP answered icmp/udp/sockperf/no-reply $got, not 5 5 6 1"
got="$(summary icmp_echo_replies) $(summary udp_echo_replies) $(summary sockperf_replies) $(summary sockperf_no_reply)"
[ "$got" = "1 1 0 0" ] || die "with the flag the stack answered icmp/udp/sockperf/no-reply $got, not 1 1 0 0"
n=$(grep -c '"replies": \["' "$WORK/xdp.out" || true)
pass "$(wc -l <"$WORK/xdp.out") hand-made requests, $n answered: the same frames, byte for byte, from XDP and from the stack"

# sockperf_run MODE ARGS...: runs the sockperf client; prints the messages it got back.
sockperf_run() {
    local what=$1 out recv
    shift
    out=$(in_a timeout 30 sockperf "$what" -i "$B" -p 11111 "$@" 2>&1) || die "sockperf $what failed: $out"
    recv=$(echo "$out" | grep -o 'ReceivedMessages=[0-9]*' | head -1 | cut -d= -f2)
    [ -n "$recv" ] && [ "$recv" -gt 0 ] || die "sockperf $what got no replies: $out"
    log "sockperf $what $*: $recv replies, $(echo "$out" | grep -o 'Round trip is [0-9.]* usec' || echo "$out" | grep -o 'avg-latency=[0-9.]*' | head -1)"
    echo "$recv"
}

# round MODE PINGS DATAGRAMS: one serve run in XDP mode MODE with every check.
round() {
    local mode=$1 pings=$2 datagrams=$3 out res pp ul
    serve_start --xdp-mode "$mode" --reflect-in-xdp --udp-echo 7 --sockperf 11111 --tcp-echo 7
    out=$(in_a ping -c "$pings" -i 0.01 -W 1 "$B" 2>&1) || true
    echo "$out" | grep -q " 0% packet loss" || die "$mode: ping lost packets: $(echo "$out" | tail -2)"
    res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 "$datagrams") || die "$mode: $res"
    log "$mode: $res"
    pp=$(sockperf_run ping-pong -t 2)
    ul=$(sockperf_run under-load -t 2 --mps 5000 --reply-every 1)
    # Throughput mode asks for no reply: the program drops those messages, as the stack
    # does, and counts them.
    in_a timeout 30 sockperf throughput -i "$B" -p 11111 -t 1 --mps 2000 >/dev/null 2>&1 \
        || die "$mode: sockperf throughput failed"
    got=$(echo "hello beside the fast path" | in_a timeout 5 nc -N "$B" 7) || die "$mode: nc failed"
    [ "$got" = "hello beside the fast path" ] || die "$mode: TCP echo got '$got'"
    sleep 0.3
    serve_stop

    [ "$(summary config.reflect_in_xdp)" = true ] || die "$mode: config.reflect_in_xdp is not true"
    local icmp udp sp nr
    icmp=$(summary reflected_in_xdp.icmp_echo)
    udp=$(summary reflected_in_xdp.udp_echo)
    sp=$(summary reflected_in_xdp.sockperf)
    nr=$(summary reflected_in_xdp.sockperf_no_reply)
    [ "$icmp" -ge "$pings" ] || die "$mode: $icmp ICMP echo replies from XDP, not $pings"
    [ "$udp" -ge "$datagrams" ] || die "$mode: $udp UDP echo replies from XDP, not $datagrams"
    [ "$sp" -ge $((pp + ul)) ] || die "$mode: $sp sockperf replies from XDP, fewer than the $((pp + ul)) sockperf got"
    [ "$nr" -ge 1000 ] || die "$mode: $nr sockperf messages without a reply request dropped in XDP"
    for c in icmp_echo_replies udp_echo_replies sockperf_replies sockperf_no_reply; do
        [ "$(summary "$c")" = 0 ] || die "$mode: the stack answered too: $c $(summary "$c")"
    done
    [ "$(summary tcp_connections_opened)" -ge 1 ] || die "$mode: TCP echo did not reach the stack"
    pass "$mode: ping $pings/$pings, $datagrams datagrams echoed byte-exact, sockperf $pp + $ul replies; from XDP: icmp $icmp, udp $udp, sockperf $sp, no-reply $nr; stack answered none of them; TCP echo on the stack"
}

round generic 100 2000
multiarch=/usr/include/$(gcc -dumpmachine)
clang -target bpf -O2 -Wall -Werror -idirafter "$multiarch" -c "$ROOT/bench/floor/xdp_pass.bpf.c" \
    -o "$WORK/xdp_pass.bpf.o" || die "cannot build bench/floor/xdp_pass.bpf.c"
ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv obj "$WORK/xdp_pass.bpf.o" sec xdp \
    || die "cannot attach XDP_PASS to the peer's $HX_IF_A"
round native 20 300
ip -n "$HX_NS_A" link set dev "$HX_IF_A" xdpdrv off

# Shared address (--claim): the kernel keeps 198.18.0.2, its ARP and its ping; only the
# claimed UDP echo port is answered in XDP, and ICMP echo never is.
hx_lab_down
LAB_B_KERNEL=1 hx_lab_up || die "the lab with the kernel's address on $HX_IF_B did not come up"
serve_start --reflect-in-xdp --udp-echo 7 --claim udp:7
in_a ip neigh flush dev "$HX_IF_A"
in_a ping -c 20 -i 0.01 -W 1 "$B" >"$WORK/ping" || die "shared: ping: $(tail -2 "$WORK/ping")"
res=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 200) || die "shared: $res"
serve_stop
got="$(summary reflected_in_xdp.icmp_echo) $(summary icmp_echo_replies) $(summary udp_echo_replies)"
[ "$got" = "0 0 0" ] \
    || die "shared: XDP icmp, stack icmp/udp answered $got, not 0 0 0 (the pings are the kernel's)"
[ "$(summary reflected_in_xdp.udp_echo)" -ge 200 ] \
    || die "shared: $(summary reflected_in_xdp.udp_echo) UDP echo replies from XDP, not 200"
[ "$(summary xdp.passed)" -ge 20 ] || die "shared: the pings were not passed to the kernel ($(summary xdp.passed) passed)"
pass "shared: ping 20/20 answered by the kernel, $res from XDP on the claimed port"
