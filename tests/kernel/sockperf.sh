#!/usr/bin/env bash
# The real sockperf client against --sockperf: ping-pong, under-load replying to every
# message at a moderate rate, and ping-pong over TCP. No message may be dropped.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --sockperf 11111
check() {
    local what=$1 out
    shift
    out=$(in_a timeout 30 sockperf "$what" -i "$B" -p 11111 "$@" 2>&1) || die "sockperf $what failed: $out"
    local recv dropped
    recv=$(echo "$out" | grep -o 'ReceivedMessages=[0-9]*' | head -1 | cut -d= -f2)
    dropped=$(echo "$out" | grep -o 'dropped messages = [0-9]*' | head -1 | grep -o '[0-9]*$')
    [ -n "$recv" ] && [ "$recv" -gt 0 ] || die "sockperf $what got no replies: $out"
    [ "$dropped" = 0 ] || die "sockperf $what dropped $dropped messages"
    pass "sockperf $what $*: $recv replies, 0 dropped, $(echo "$out" | grep -o 'Round trip is [0-9.]* usec' || echo "$out" | grep -o 'avg-latency=[0-9.]*' | head -1)"
}
check ping-pong -t 3
check under-load -t 3 --mps 10000 --reply-every 1
check ping-pong -t 3 --tcp
# sockperf's client may close with replies still in flight, and then its kernel answers
# them with RST: the connection must end, by FIN or RST, and none may be left open.
sleep 0.5
serve_stop
opened=$(summary tcp_connections_opened)
ended=$(($(summary tcp_closed_fin) + $(summary tcp_closed_rst)))
[ "$opened" -ge 1 ] && [ "$ended" = "$opened" ] \
    || die "$opened TCP connections opened, $ended ended (fin $(summary tcp_closed_fin), rst $(summary tcp_closed_rst))"
