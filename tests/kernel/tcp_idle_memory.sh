#!/usr/bin/env bash
# Memory per idle TCP connection: IDLE_N (default 20 000) kernel connections from xs-a to
# `xstack serve --tcp-echo 7`, held idle. serve's RSS may grow by at most 4 KiB per
# connection (an idle connection holds no buffers), every 100th connection still echoes
# after the wait, and once all have closed (FIN) RSS falls back to within
# IDLE_AFTER_MIB (default 16 MiB) of where it started: what stays is bounded by the
# configuration, not by N — the pool's 64 spare buffer sets (up to 8 MiB once touched)
# and the table's index, reserved for 65 536 connections (about 6.5 MiB once touched).
# Under a minute.
source "$(dirname "$0")/lib.sh"
N=${IDLE_N:-20000}
PER_CONN_MAX=${IDLE_PER_CONN_MAX:-4096}
AFTER_MIB=${IDLE_AFTER_MIB:-16}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1000 ] && [ "$N" -le 60000 ] \
    || die "IDLE_N must be between 1000 and 60000 (kernel clients from one address)"

# rss PID: resident set in KiB.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# A process may hold fewer than 20 000 sockets here (the hard open-file limit), so the
# connections are spread over clients of at most 16 000 each.
PER_CLIENT=16000
CLIENTS=$(((N + PER_CLIENT - 1) / PER_CLIENT))
CLIENT_PIDS=()

# wait_all PATTERN SECS: until every client has printed a line matching PATTERN, or fail.
wait_all() {
    local i c done
    for ((i = 0; i < $2 * 10; i++)); do
        done=0
        for ((c = 0; c < CLIENTS; c++)); do
            if grep -q "$1" "$WORK/client$c.out" 2>/dev/null; then
                done=$((done + 1))
            elif ! alive "${CLIENT_PIDS[$c]}"; then
                die "idle client $c exited before '$1': $(cat "$WORK/client$c.err")"
            fi
        done
        [ "$done" = "$CLIENTS" ] && return 0
        sleep 0.1
    done
    die "the idle clients did not all print '$1' within $2 s"
}

lab_up
# More than the default 28 000 ephemeral ports in xs-a (the namespace's own setting).
in_a sysctl -qw net.ipv4.ip_local_port_range="1024 65535" || die "cannot widen xs-a's port range"
serve_start --tcp-echo 7 --interval 0.5
sleep 0.5
before=$(rss "$SERVE_PID")
for ((c = 0; c < CLIENTS; c++)); do
    share=$((N / CLIENTS + (c < N % CLIENTS ? 1 : 0)))
    hx_spawn pid "idle client $c" "$HX_NS_A" "$WORK/client$c.out" "$WORK/client$c.err" \
        python3 "$KDIR/tcp_idle_client.py" "$B" 7 "$share" "$WORK/go" 40 $((1024 + c * PER_CLIENT))
    CLIENT_PIDS+=("$pid")
done
wait_all "^open " 45
# Let the last handshakes' service finish and the heap settle.
sleep 1.5
with=$(rss "$SERVE_PID")
touch "$WORK/go"
wait_all "^closed" 30
for pid in "${CLIENT_PIDS[@]}"; do
    hx_stop "$pid" TERM 5 || [ "$?" = 3 ] || die "could not stop an idle client (pid $pid)"
done
# Closing ends in LAST_ACK → CLOSED (a FIN lost in the burst waits for its
# retransmission): until serve's live line counts no connection, then the heap is
# trimmed a second after the memory was freed.
for ((i = 0; i < 200; i++)); do
    tail -n 1 "$WORK/serve.err" | grep -q "tcp conns 0 " && break
    sleep 0.1
done
tail -n 1 "$WORK/serve.err" | grep -q "tcp conns 0 " \
    || die "connections still open 20 s after the clients closed: $(tail -n 1 "$WORK/serve.err")"
log "closed in $((i / 10)).$((i % 10)) s (to 0.5 s)"
sleep 1.5
after=$(rss "$SERVE_PID")
if [ -n "${IDLE_DEBUG:-}" ]; then
    awk '/^[0-9a-f]+-/ { m = $0 } /^Rss:/ && $2 > 1000 { print $2, m }' "/proc/$SERVE_PID/smaps" >&2
fi
serve_stop
expect_all_fin "$N"

per_conn=$(((with - before) * 1024 / N))
log "serve RSS: before $before KiB, with $N idle $with KiB, after close $after KiB; $per_conn B per idle connection; $CLIENTS clients: $(cat "$WORK"/client*.out | tr '\n' ' ')"
[ "$per_conn" -le "$PER_CONN_MAX" ] \
    || die "$per_conn bytes of RSS per idle connection, more than $PER_CONN_MAX"
[ "$after" -le $((before + AFTER_MIB * 1024)) ] \
    || die "RSS after close is $after KiB, more than $AFTER_MIB MiB over the $before KiB before"
pass "$N idle connections: $per_conn B of RSS each (before $before KiB, with $with KiB, after $after KiB); all closed by FIN"
