#!/usr/bin/env bash
# xstack load --app http in xs-a (owning 198.18.0.10 on xsa0) against Debian's nginx,
# run by the kernel in xs-b on 198.18.0.2:80 with access_log off, serving a 4096-byte
# static file: closed loop over 16 keep-alive connections, open loop at a fixed rate,
# pipelining 4 deep, crr, and over IPv6 (http://[2001:2::2]/...). Each run: no error,
# every response 200, body bytes = file size x responses. Last, against nginx's second port, which closes every keep-alive
# connection after 100 requests (Connection: close): the closes are counted, the clients
# reconnect and send again the pipelined requests the close cut off, without error.
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/harness/nginx.sh"
lab_up
SIZE=4096
nginx_prepare "$WORK/nginx" "$B" 80 "$SIZE" 2001:2::2 || die "could not write the nginx configuration"
nginx_start NGINX_PID "$WORK/nginx" \
    || die "nginx did not start: $(tail -3 "$WORK/nginx/nginx.err" "$WORK/nginx/error.log" 2>/dev/null)"
URL="http://$B/file.bin"
load() { hload --interval 1 --app http --url "$URL" "$@"; }
check() { python3 "$KDIR/http_check.py" "$WORK/load.out" --body "$SIZE" "$@"; }

load --connections 16 --duration 2
r=$(check) || die "$r"
pass "http closed loop x16 vs nginx: $r"
load --connections 8 --duration 2 --rate 5000
r=$(check) || die "$r"
[ "$(load_json latency_uncorrected_us.samples)" = "$(load_json requests)" ] \
    || die "open loop without the uncorrected latency of every response"
pass "http open loop 5000/s vs nginx: $r"
load --connections 4 --pipeline 4 --duration 2
r=$(check) || die "$r"
pass "http pipelined 4 deep x4 vs nginx: $r"
load --mode crr --connections 4 --duration 2
r=$(check) || die "$r"
pass "http crr vs nginx: $r, $(load_json connections_per_s) connections/s"
load --method HEAD --connections 2 --requests 200
r=$(python3 "$KDIR/http_check.py" "$WORK/load.out" --body 0) || die "HEAD: $r"
pass "HEAD requests have no body: $r"
# Over IPv6, the URL's address in brackets (the Host field as written).
hload --interval 1 --app http --ip 2001:2::10/64 --url "http://[2001:2::2]/file.bin" --connections 4 --duration 2
r=$(check) || die "IPv6: $r"
pass "http over IPv6, http://[2001:2::2]/file.bin x4 vs nginx: $r"
URL="http://$B:81/file.bin"
load --connections 4 --pipeline 4 --duration 2
r=$(check --closes) || die "$r"
n=$(load_json requests) closes=$(load_json replies.server_closes)
[ $((closes * 100)) -ge $((n - 400)) ] || die "$n responses, $closes server closes: not one each 100"
pass "nginx closing each connection after 100 requests, pipelined 4 deep: $r"
sleep 0.5
left=$(in_b ss -tanH | grep -v LISTEN | grep -v TIME-WAIT | grep -c "$LOADGEN" || true)
[ "$left" = 0 ] || die "nginx still holds $left connections from the load generator: $(in_b ss -tanH | grep -v LISTEN | head -3)"
pass "no connection left open on nginx's side"
