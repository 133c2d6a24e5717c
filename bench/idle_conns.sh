#!/usr/bin/env bash
# bench/idle_conns.sh [xdp|packet]: memory per idle TCP connection of `xstack serve
# --tcp-echo 7`. N=... connections (default 50 000) are opened to it and held idle, then
# closed; serve's RSS is read before, while they are open (the highest reading of the
# hold: with CLIENT=xstack, while serve counts all N) and 1.5 s after serve counts none (its
# heap is trimmed 1 s after memory is freed); the peaks of the whole run are logged.
#
# Clients: up to 48 000 connections, kernel sockets in xs-a (tests/kernel/
# tcp_idle_client.py, 16 000 a process: the open-file limit); beyond that (or with
# CLIENT=xstack) `xstack load` from ADDRS source addresses (default 62, 198.18.0.10 on,
# 16 384 ports each), TCP ping-pong in open loop at RATE requests/s (default 100) over
# all connections for HOLD seconds (default 20): the connections are opened first (512
# handshakes at a time), then they are idle but for the odd request, then closed (512 at
# a time). Its own RSS is reported too, and both sides' TCP retransmissions. serve runs
# on core 1 and load on core 0 (SERVE_CORE, LOAD_CORE).
#
# Prints one table row: N, client, serve RSS before/with/after (MiB), bytes per idle
# connection, the client's RSS (MiB; the kernel's sockets are not in a process's RSS).
# Run under the lab lock: flock /tmp/xstack-lab.lock bench/idle_conns.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bench_init idle_conns.sh
DRIVER=${1:-xdp}
N=${N:-50000}
HOLD=${HOLD:-20}
RATE=${RATE:-100}
ADDRS=${ADDRS:-62}
CLIENT=${CLIENT:-$([ "$N" -le 48000 ] && echo kernel || echo xstack)}
[[ $N =~ ^[0-9]+$ ]] && [ "$N" -ge 1 ] || { log "N must be a positive number"; exit 1; }
[[ $ADDRS =~ ^[0-9]+$ ]] && [ "$ADDRS" -ge 1 ] && [ "$ADDRS" -le 200 ] \
    || { log "ADDRS must be between 1 and 200"; exit 1; }
[ "$CLIENT" = kernel ] && [ "$N" -gt 48000 ] && { log "kernel clients hold 48 000 at most"; exit 1; }
[ "$CLIENT" = xstack ] && [ "$N" -gt $((ADDRS * 16384)) ] \
    && { log "$ADDRS addresses have $((ADDRS * 16384)) ports, fewer than N=$N"; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

SERVE_CORE=${SERVE_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
hx_lab_up || { log "the lab did not come up"; exit 1; }
HX_TASKSET=$SERVE_CORE hx_serve SPID "$OUT/serve.out" "$OUT/serve.err" --driver "$DRIVER" --json --tcp-echo 7 --interval 0.5 \
    --max-connections $((N + 4096)) || { log "xstack serve did not start"; exit 1; }
sleep 0.5
before=$(rss "$SPID")
with=$before
client_rss=0
serve_peak=0 client_peak=0 held=0
t0=$(date +%s)
if [ "$CLIENT" = kernel ]; then
    ip netns exec "$HX_NS_A" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    per=16000
    clients=$(((N + per - 1) / per))
    pids=()
    for ((c = 0; c < clients; c++)); do
        share=$((N / clients + (c < N % clients ? 1 : 0)))
        hx_spawn pid "idle client $c" "$HX_NS_A" "$OUT/client$c.out" "$OUT/client$c.err" \
            python3 tests/kernel/tcp_idle_client.py "$B" 7 "$share" "$OUT/go" 60 $((1024 + c * per))
        pids+=("$pid")
    done
    for ((i = 0; i < 700; i++)); do
        [ "$(cat "$OUT"/client*.out 2>/dev/null | grep -c '^open ')" = "$clients" ] && break
        sleep 0.1
    done
    [ "$i" -lt 700 ] || { log "the kernel clients did not open $N connections: $(cat "$OUT"/client*.err)"; exit 1; }
    for ((i = 0; i < HOLD * 2 && i < 10; i++)); do
        r=$(rss "$SPID")
        [ "$r" -gt "$with" ] && with=$r
        sleep 0.5
    done
    touch "$OUT/go"
    for ((i = 0; i < 600; i++)); do
        [ "$(cat "$OUT"/client*.out | grep -c '^closed')" = "$clients" ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do hx_stop "$pid" TERM 5 || true; done
    opened=$N
else
    last=$((10 + ADDRS - 1))
    [ "$last" -le 250 ] || { log "too many addresses"; exit 1; }
    HX_TASKSET=$LOAD_CORE hx_load_argv --driver "$DRIVER" --json --ip "198.18.0.10-198.18.0.$last/24" \
        --target "$B:7" --proto tcp --mode pingpong --connections "$N" --rate "$RATE" \
        --duration "$HOLD" --timeout-ms 10000
    hx_spawn LPID "xstack load" "" "$OUT/load.out" "$OUT/load.err" "${HX_ARGV[@]}"
    # Bounded: opening and closing at a few ten thousand a second (1 000 000 measured
    # about 28 s to open and 18 s to close), then the hold.
    limit=$((HOLD + N / 5000 + 60))
    # "With N idle" is the highest reading while serve counts all N connections (the
    # hold); the peaks also cover opening and closing, when connections hold buffers.
    while hx_running "$LPID"; do
        conns=$(tail -n 1 "$OUT/serve.err" | sed -n 's/.*tcp conns \([0-9]*\) .*/\1/p')
        r=$(rss "$SPID")
        l=$(rss "$LPID")
        [ "$r" -gt "$serve_peak" ] && serve_peak=$r
        [ "$l" -gt "$client_peak" ] && client_peak=$l
        if [ "${conns:-0}" -ge "$N" ]; then
            [ "$r" -gt "$with" ] && with=$r
            [ "$l" -gt "$client_rss" ] && client_rss=$l
            held=$((held + 1))
        fi
        [ $(($(date +%s) - t0)) -le "$limit" ] || { log "xstack load ran past $limit s"; hx_stop "$LPID" INT 10 || true; break; }
        sleep 0.5
    done
    hx_stop "$LPID" INT 10 || true
    [ "$held" -gt 0 ] || log "serve never counted all $N connections at once: the RSS with N idle is the start's"
    log "peaks over the whole run (opening and closing included): serve $(mib "$serve_peak") MiB, load $(mib "$client_peak") MiB; $held readings with all $N open"
    opened=$(hx json "$OUT/load.out" stack.tcp_connections_opened 2>/dev/null || echo "?")
    log "load: requests, errors, opened, retransmits, run_s: $(hx json "$OUT/load.out" requests errors \
        stack.tcp_connections_opened stack.tcp_retransmits run_s 2>/dev/null || tail -3 "$OUT/load.err")"
fi
# Until serve counts no connection (bounded: 30 s and a second per 20 000), then a trim's
# delay.
wait_close=$((300 + N / 2000))
for ((i = 0; i < wait_close; i++)); do
    tail -n 1 "$OUT/serve.err" | grep -q "tcp conns 0 " && break
    sleep 0.1
done
tail -n 1 "$OUT/serve.err" | grep -q "tcp conns 0 " \
    || log "still open after $((wait_close / 10)) s: $(tail -n 1 "$OUT/serve.err")"
sleep 1.5
after=$(rss "$SPID")
stop_server
log "serve: retransmits, SYN cookies sent, receive ring full, connections left: $(hx json "$OUT/serve.out" \
    tcp_retransmits tcp_syn_cookies_sent rx_ring_full tcp_connections_left 2>/dev/null || echo "no summary")"
per_conn=$(((with - before) * 1024 / N))
printf '| N | client | serve RSS before | with N idle | after close | bytes per idle connection | client RSS |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %s (%s opened) | %s | %s MiB | %s MiB | %s MiB | %s | %s |\n' "$N" "$opened" "$CLIENT" \
    "$(mib "$before")" "$(mib "$with")" "$(mib "$after")" "$per_conn" \
    "$([ "$CLIENT" = kernel ] && echo "kernel sockets" || echo "$(mib "$client_rss") MiB")"
