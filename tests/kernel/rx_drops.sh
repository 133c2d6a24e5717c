#!/usr/bin/env bash
# Frames the kernel drops before xstack reads them must show in xstack's summary. xstack
# serve is paused (SIGSTOP, by its PID) while the kernel in xs-a sends a burst of UDP
# datagrams, more than its receive queue holds; after SIGCONT it drains the queue. The
# frames the queue had no room for are counted by the kernel: on AF_PACKET in the
# socket's drop count (`ss -0 -nem`, skmem d…, the same count as PACKET_STATISTICS
# tp_drops), on AF_XDP in the socket's XDP statistics. Either way the summary's
# rx_ring_full must say the same.
#   RXD_BURST  datagrams in the burst (default 30000; AF_PACKET's 8 MB buffer holds ~7000)
source "$(dirname "$0")/lib.sh"
burst=${RXD_BURST:-30000}
lab_up
serve_start --udp-echo 7
# Resolve xstack's MAC first: a paused xstack answers no ARP.
in_a ping -c 2 -i 0.1 -W 1 "$B" >/dev/null || die "no ping reply before the burst"
kill -STOP "$SERVE_PID"
in_a python3 - "$B" "$burst" <<'PY' || { kill -CONT "$SERVE_PID"; die "the burst failed"; }
import socket, sys
dst, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload = b"x" * 1400
sent = 0
for _ in range(n):
    try:
        s.sendto(payload, (dst, 7))
        sent += 1
    except BlockingIOError:
        pass
PY
kill -CONT "$SERVE_PID"
sleep 1 # let xstack drain what its queue held
kernel_drops=""
if [ "$DRIVER" = packet ]; then
    # One packet socket in xs-b: xstack's. skmem:(r0,rb…,…,d<drops>)
    ss_line=$(in_b ss -0 -nem | tr '\n' ' ')
    kernel_drops=$(echo "$ss_line" | grep -o 'skmem:([^)]*)' | grep -o ',d[0-9]*' | tr -d ',d')
    [ -n "$kernel_drops" ] || die "no drop count in ss -0 -nem: $ss_line"
fi
serve_stop
ours=$(summary rx_ring_full)
echoed=$(summary udp_echo_replies)
log "  burst of $burst: $echoed echoed, rx_ring_full $ours${kernel_drops:+, dropped by the kernel (ss d) $kernel_drops}"
[ "$ours" -gt 0 ] || die "the summary counted no receive drop ($echoed of $burst datagrams echoed)"
if [ -n "$kernel_drops" ]; then
    [ "$ours" = "$kernel_drops" ] || die "rx_ring_full $ours, but the kernel dropped $kernel_drops"
fi
pass "$ours frames the kernel dropped before xstack could read them are in the summary"
