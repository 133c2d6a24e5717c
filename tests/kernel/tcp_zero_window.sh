#!/usr/bin/env bash
# A kernel client that stops reading (RFC 1122 §4.2.2.17, RFC 9293 §3.8.6.1): its window
# closes and stays closed, xstack probes it, and the kernel answers every probe. The
# connection must outlive the hold (xstack used to count the probes as retransmissions
# and reset the connection after about 100 s), and once the client reads again xstack
# must send at once, not when its persist timer next fires.
#   ZW_HOLD   seconds the long connection does not read (default 120)
source "$(dirname "$0")/lib.sh"
hold=${ZW_HOLD:-120}
lab_up
serve_start --tcp-echo 7
in_a nstat -n >/dev/null # start the kernel's counters from here
# One connection holds its window closed for $hold s, another for 3 s (several probes,
# the back-off well under way) to time the restart.
in_a python3 "$KDIR/tcp_zero_window_client.py" "$B" 7 $((1 << 20)) 3 "$hold" >"$WORK/client.out" \
    || die "the client failed: $(cat "$WORK/client.out")"
read -r to_zero from_zero zw_drop < <(in_a nstat -az TcpExtTCPToZeroWindowAdv \
    TcpExtTCPFromZeroWindowAdv TcpExtTCPZeroWindowDrop | awk '
    $1 == "TcpExtTCPToZeroWindowAdv" {a = $2} $1 == "TcpExtTCPFromZeroWindowAdv" {b = $2}
    $1 == "TcpExtTCPZeroWindowDrop" {c = $2} END {print a + 0, b + 0, c + 0}')
serve_stop
while read -r line; do
    log "  client: $line"
    h=$(echo "$line" | hx json - hold)
    [ "$(echo "$line" | hx json - ok)" = true ] || die "the ${h} s connection failed: $line"
    [ "$(echo "$line" | hx json - state_ok)" = true ] || die "the ${h} s connection was not ESTABLISHED after the hold"
done <"$WORK/client.out"
resume=$(head -n 1 "$WORK/client.out" | hx json - resume_ms)
# (Linux takes a probe's byte when its buffer still has room past the window it
# advertised, and refuses it, TCPZeroWindowDrop, when it has none.)
log "  kernel: zero window advertised $to_zero times, reopened $from_zero, $zw_drop probe bytes refused"
[ "$to_zero" -ge 2 ] || die "the kernel never advertised a zero window (TCPToZeroWindowAdv $to_zero)"
probes=$(summary tcp_window_probes)
log "  xstack: $probes window probes, $(summary tcp_retransmits) retransmits"
[ "$probes" -ge 10 ] || die "only $probes window probes in $hold s"
# Linux resumes in about 10 ms; xstack's shortest timer is 200 ms, so anything under
# 100 ms was sent on the window update, not on a timer.
python3 -c "import sys; sys.exit(0 if float('$resume') < 100 else 1)" \
    || die "xstack sent again $resume ms after the window opened"
[ "$(summary tcp_closed_timeout)" = 0 ] || die "$(summary tcp_closed_timeout) connections timed out"
expect_all_fin 2
pass "a window held closed for $hold s with $probes probes answered; data resumed ${resume} ms after it opened"
