#!/usr/bin/env bash
# The kernel's TCP against a port xstack does not serve: connect() is refused at once
# (RFC 9293 §3.10.7.1 RST+ACK for the SYN), by Python sockets and by nc.
source "$(dirname "$0")/lib.sh"
lab_up
serve_start --udp-echo 7
in_a python3 "$KDIR/tcp_refused_check.py" "$B" || die "connect() was not refused"
in_a nc -z -w 2 "$B" 80 && die "nc -z reports port 80 open"
serve_stop
[ "$(summary tcp_rst_sent)" -ge 4 ] || die "tcp_rst_sent < 4"
pass "connections to unserved TCP ports refused with RST ($(summary tcp_rst_sent) sent); UDP port 7 is a separate port space"
