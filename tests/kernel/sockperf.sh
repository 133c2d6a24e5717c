#!/usr/bin/env bash
# The real sockperf client against --sockperf: ping-pong, under-load replying to every
# message at a moderate rate, and ping-pong over TCP. Ping-pong (UDP and TCP) may drop
# nothing. Under-load is open-loop UDP at 10 000 messages a second on a 2-core VM shared
# with other work: a datagram can be lost when another process holds the core for a
# while (seen: 8 and 62 of 30 000, the latter before any change of this code), so it may
# lose at most 0.1 %, and says how many it lost.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --sockperf 11111
# check [--max-drop-permille N] MODE ARGS...
check() {
    local max=0
    if [ "$1" = --max-drop-permille ]; then max=$2; shift 2; fi
    local what=$1 out
    shift
    out=$(in_a timeout 30 sockperf "$what" -i "$B" -p 11111 "$@" 2>&1) || die "sockperf $what failed: $out"
    local recv dropped
    recv=$(echo "$out" | grep -o 'ReceivedMessages=[0-9]*' | head -1 | cut -d= -f2)
    dropped=$(echo "$out" | grep -o 'dropped messages = [0-9]*' | head -1 | grep -o '[0-9]*$')
    [ -n "$recv" ] && [ "$recv" -gt 0 ] || die "sockperf $what got no replies: $out"
    [ $((dropped * 1000)) -le $((max * recv)) ] \
        || die "sockperf $what dropped $dropped messages of $recv (allowed: $max per mille)"
    pass "sockperf $what $*: $recv replies, $dropped dropped, $(echo "$out" | grep -o 'Round trip is [0-9.]* usec' || echo "$out" | grep -o 'avg-latency=[0-9.]*' | head -1)"
}
check ping-pong -t 3
check --max-drop-permille 1 under-load -t 3 --mps 10000 --reply-every 1
check ping-pong -t 3 --tcp
# sockperf's client may close with replies still in flight, and then its kernel answers
# them with RST: the connection must end, by FIN or RST, and none may be left open.
sleep 0.5
serve_stop
opened=$(summary tcp_connections_opened)
ended=$(($(summary tcp_closed_fin) + $(summary tcp_closed_rst)))
[ "$opened" -ge 1 ] && [ "$ended" = "$opened" ] \
    || die "$opened TCP connections opened, $ended ended (fin $(summary tcp_closed_fin), rst $(summary tcp_closed_rst))"
