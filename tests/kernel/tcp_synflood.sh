#!/usr/bin/env bash
# A SYN flood (hping3 --flood -S, bounded to 4 s) from xs-a against xstack's echo port,
# while a kernel client in xs-a keeps connecting: at least 99 % of its connections must
# succeed. The half-open backlog is kept small (64) so the flood reaches SYN cookies.
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
sleep 1
serve_stop
cookies=$(summary tcp_syn_cookies_sent)
[ "$cookies" -gt 0 ] || die "the flood never reached SYN cookies"
pass "$ok/$attempts legitimate connections during a 4 s SYN flood (connect to echo: p50 $p50 ms, p99 $p99 ms over the 6 s); $cookies SYN cookies sent, $(summary tcp_syn_cookies_ok) completed; table-full drops $(summary drops.tcp_table_full)"
