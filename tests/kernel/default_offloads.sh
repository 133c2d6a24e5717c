#!/usr/bin/env bash
# A veth pair with the kernel's default offloads (TX checksum, TSO, GSO on), as a new user
# makes one by hand: no `ethtool -K`. The kernel peer then hands over partial checksums
# and TCP super-frames.
#  - packet mode finishes the checksums (TP_STATUS_CSUMNOTREADY) and takes the
#    super-frames: UDP and TCP echo come back byte-exact;
#  - AF_XDP cannot check partial checksums: it either answers, or counts them under
#    partial_checksum and says, once, on stderr and in the JSON, how to fix it
#    (`ethtool -K <peer> tx off`).
#  - load against the kernel's UDP echo server does the same.
source "$(dirname "$0")/lib.sh"
export LAB_OFFLOADS=default
lab_up
in_a ethtool -k "$HX_IF_A" | grep -q "^tx-checksumming: on" || die "the default-offload lab has TX checksumming off"
FIX='ethtool -K <peer> tx off'

# AF_XDP may answer nothing: few datagrams and a short TCP bound keep that case quick
# (each lost datagram costs 1.5 s of retries).
n=200 secs=60
[ "$DRIVER" = xdp ] && n=10 secs=15
serve_start --udp-echo 7 --tcp-echo 7
udp=$(in_a python3 "$KDIR/udp_check.py" "$B" 7 "$n" 2>&1) && udp_rc=0 || udp_rc=$?
tcp=$(in_a timeout "$secs" python3 "$KDIR/tcp_echo_check.py" "$B" 7 5 262144 20 2>&1) && tcp_rc=0 || tcp_rc=$?
serve_stop
if [ "$DRIVER" = packet ]; then
    [ "$udp_rc" = 0 ] || die "UDP echo with default offloads: $udp"
    [ "$tcp_rc" = 0 ] || die "TCP echo with default offloads: $tcp"
    done=$(summary rx_checksum_completed)
    [ "$done" -gt 0 ] || die "no partial checksum was finished: were the offloads on?"
    msg="serve: UDP and TCP echo byte-exact ($done partial checksums finished)"
elif [ "$udp_rc" = 0 ] && [ "$tcp_rc" = 0 ]; then
    msg="serve: AF_XDP answered UDP and TCP"
else
    n=$(summary drops.partial_checksum)
    [ "$n" -gt 0 ] || die "nothing answered and nothing counted as partial_checksum: $udp"
    [ "$(grep -c "frames on $HX_IF_B carry partial checksums" "$WORK/serve.err")" = 1 ] \
        || die "the fix is not said once on stderr: $(cat "$WORK/serve.err")"
    grep -qF "$FIX" "$WORK/serve.err" || die "stderr does not name the fix"
    hx json "$WORK/summary.json" advice | grep -qF "$FIX" || die "the JSON advice does not name the fix"
    msg="serve: AF_XDP dropped $n frames as partial_checksum and named the fix once"
fi

# load (xs-a) against the kernel's UDP echo server in xs-b, whose replies carry partial
# checksums.
in_b ip addr add "$B/24" dev "$HX_IF_B"
peer_start "$HX_NS_B" udp:7 python3 "$KDIR/udp_echo_server.py" "$B" 7 60
rc=0
hx_load "$WORK/load.out" "$WORK/load.err" --driver "$DRIVER" --json --target "$B:7" \
    --proto udp --connections 2 --duration 2 || rc=$?
if [ "$DRIVER" = packet ]; then
    [ "$rc" = 0 ] || die "load with default offloads exited $rc: $(grep -v -E 'libbpf|libxdp' "$WORK/load.err" | tail -3)"
    msg="$msg; load: $(load_json requests) requests answered"
elif [ "$rc" = 0 ]; then
    msg="$msg; load: AF_XDP answered ($(load_json requests) requests)"
else
    [ "$(grep -c "frames on $HX_IF_A carry partial checksums" "$WORK/load.err")" = 1 ] \
        || die "load does not say the fix once: $(tail -5 "$WORK/load.err")"
    load_json limits | grep -qF "$FIX" || die "load's JSON limits do not name the fix"
    msg="$msg; load: exit $rc, $(load_json drops.partial_checksum) partial_checksum, fix named"
fi
pass "$msg"
