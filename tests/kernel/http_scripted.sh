#!/usr/bin/env bash
# xstack load --app http and --app raw against a scripted HTTP server on the kernel's
# sockets in xs-b (tests/kernel/http_server.py, one behaviour per port): chunked bodies,
# a response written one byte per segment, a server that closes after 5 requests, 404
# and 500 counted by code, a malformed status line (counted, connection dropped, the run
# goes on), a server that never answers (timeouts counted, the run ends on time), and a
# Redis-style PING answered with a fixed reply (--app raw, by delimiter and by size, over
# TCP and UDP).
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
P=8080
peer_start xs-b tcp:$((P + 8)) timeout 300 python3 "$KDIR/http_server.py" "$B" "$P"
http() { hload --interval 1 --app http --url "http://$B:$1/x" "${@:2}"; }
check() { python3 "$KDIR/http_check.py" "$WORK/load.out" "$@"; }

http $P --connections 4 --duration 1
r=$(check --body 3000) || die "chunked: $r"
pass "chunked responses: $r"
http $((P + 1)) --connections 2 --duration 1 --timeout-ms 2000
r=$(check --body 100) || die "split byte by byte: $r"
pass "responses one byte per segment: $r"
http $((P + 2)) --connections 2 --duration 1
r=$(check --body 5 --closes) || die "close after 5: $r"
n=$(load_json requests) closes=$(load_json replies.server_closes)
[ $((closes * 5)) -ge $((n - 10)) ] || die "$n responses but only $closes server closes (one each 5 expected)"
pass "a server that closes after 5 requests: $r"
http $((P + 8)) --connections 2 --pipeline 3 --duration 1
r=$(check --body 5 --closes) || die "close after 5, pipelined: $r"
[ "$(load_json replies.retried)" -gt 0 ] || die "pipelined requests cut off by the close were not sent again"
pass "... pipelined 3 deep, the requests behind each close sent again: $r"
http $((P + 3)) --duration 1
r=$(check --code 404 --body 9) || die "404: $r"
pass "404 counted by code, not as an error: $r"
http $((P + 4)) --duration 1
r=$(check --code 500 --body 5) || die "500: $r"
pass "500 counted by code: $r"
http $((P + 5)) --connections 2 --duration 1 --max-errors 100%
r=$(check --body 2 --errors-only malformed) || die "malformed: $r"
good=$(load_json requests) bad=$(load_json errors_by_kind.malformed)
[ "$good" -ge "$bad" ] || die "$good good responses, $bad malformed: the run did not go on after a malformed one"
pass "a malformed status line is counted ($bad), its connection dropped, the run goes on ($good good)"
t0=$(date +%s.%N)
xstack_load_status 3 --interval 1 --app http --url "http://$B:$((P + 6))/x" --connections 2 \
    --duration 2 --timeout-ms 300
t=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t0" "$(date +%s.%N)")
to=$(load_json errors_by_kind.timeout)
[ "$to" -gt 0 ] && [ "$(load_json errors)" = "$to" ] || die "a silent server: errors $(load_json errors_by_kind)"
python3 -c "import sys; sys.exit(float(sys.argv[1]) > 6.0)" "$t" || die "the run against a silent server took $t s"
pass "a server that never answers: $to timeouts, exit 3, the run took $t s for --duration 2"

printf 'PING\r\n' >"$WORK/ping"
xstack_load --interval 1 --app raw --target "$B:$((P + 7))" --request-file "$WORK/ping" \
    --response-delimiter '\r\n' --connections 4 --duration 1
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "raw by delimiter: $r"
[ "$(load_json bytes_received)" = $(($(load_json requests) * 7)) ] || die "raw: $(load_json bytes_received) bytes"
pass "raw PING, response up to CRLF: $r"
xstack_load --interval 1 --app raw --target "$B:$((P + 7))" --request-file "$WORK/ping" \
    --response-bytes 7 --pipeline 8 --duration 1
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "raw by size: $r"
pass "raw PING, 7-byte responses, pipelined 8 deep: $r"
xstack_load --interval 1 --app raw --proto udp --target "$B:$((P + 9))" \
    --request-file "$WORK/ping" --response-delimiter '\r\n' --connections 4 --duration 1
r=$(python3 "$KDIR/load_check.py" "$WORK/load.out") || die "raw over UDP: $r"
[ "$(load_json bytes_received)" = $(($(load_json requests) * 7)) ] || die "raw UDP: $(load_json bytes_received) bytes"
pass "raw PING over UDP, 4 flows: $r"
