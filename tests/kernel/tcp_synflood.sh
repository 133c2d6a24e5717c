#!/usr/bin/env bash
# SYN floods against xstack's echo port while a kernel client in xs-a keeps connecting:
#   1. hping3 --flood -S from xs-a's own address, bounded to 4 s;
#   2. 30 000 SYN/s for 4 s from spoofed sources, each a different address of
#      198.18.1.0-198.18.255.255 (synflood.py: inside the lab's range, where no host
#      answers the SYN-ACKs).
# During each, at least 99 % of the legitimate connections must succeed; their
# connect-to-echo p50 and p99 are reported. The half-open backlog is kept small (64) so
# the floods reach SYN cookies.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --tcp-echo 7 --syn-backlog 64
hx_spawn legit tcp_connect_loop.py xs-a "$WORK/legit.out" "$WORK/legit.err" \
    python3 "$KDIR/tcp_connect_loop.py" "$B" 7 6
sleep 1
in_a timeout 4 hping3 --flood -S -p 7 "$B" >/dev/null 2>&1 || true
hx_wait "$legit" || die "the legitimate client failed: $(tail -n 3 "$WORK/legit.err")"
read -r _ attempts _ ok _ p50 _ p99 <"$WORK/legit.out"
log "legitimate client: $ok of $attempts connections succeeded during the flood"
[ "$attempts" -ge 50 ] || die "only $attempts legitimate attempts were made"
[ $((ok * 100)) -ge $((attempts * 99)) ] || die "only $ok of $attempts legitimate connections succeeded"

# Phase 2: the spoofed-source flood.
mac=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | awk '/link\/ether/ {print $2}')
sleep 1
hx_spawn legit2 tcp_connect_loop.py xs-a "$WORK/legit2.out" "$WORK/legit2.err" \
    python3 "$KDIR/tcp_connect_loop.py" "$B" 7 6
sleep 1
read -r flooded flood_rate < <(in_a python3 "$KDIR/synflood.py" "$HX_IF_A" "$mac" "$B" 7 30000 4) \
    || die "synflood.py failed"
hx_wait "$legit2" || die "the legitimate client failed during the spoofed flood: $(tail -n 3 "$WORK/legit2.err")"
read -r _ attempts2 _ ok2 _ p50s _ p99s <"$WORK/legit2.out"
log "spoofed flood: $flooded SYNs ($flood_rate/s); legitimate client: $ok2 of $attempts2 connections succeeded"
[ "$flooded" -ge 60000 ] || die "the spoofed flood sent only $flooded SYNs"
[ "$attempts2" -ge 50 ] || die "only $attempts2 legitimate attempts were made during the spoofed flood"
[ $((ok2 * 100)) -ge $((attempts2 * 99)) ] || die "only $ok2 of $attempts2 legitimate connections succeeded during the spoofed flood"
sleep 1
serve_stop
cookies=$(summary tcp_syn_cookies_sent)
[ "$cookies" -gt 0 ] || die "the flood never reached SYN cookies"
pass "$ok/$attempts legitimate connections during a 4 s SYN flood (connect to echo: p50 $p50 ms, p99 $p99 ms over the 6 s); $ok2/$attempts2 during $flooded spoofed SYNs at $flood_rate/s (p50 $p50s ms, p99 $p99s ms); $cookies SYN cookies sent, $(summary tcp_syn_cookies_ok) completed; table-full drops $(summary drops.tcp_table_full)"
