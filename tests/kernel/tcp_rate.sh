#!/usr/bin/env bash
# The sequential connect/request/close rate of a kernel client against the kernel's own
# echo server (Python, in xs-b on 198.18.0.2), then against xstack serve on the same
# address: a comparison, not a pass mark (the test fails only on errors).
source "$(dirname "$0")/lib.sh"
N=3000
LAB_B_KERNEL=1 lab_up
peer_start xs-b tcp:7 timeout 120 python3 "$KDIR/tcp_echo_server.py" "$B" 7
kernel=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 0 0 $N) || die "kernel server: $kernel"
peer_stop "$PEER_PID"
LAB_B_KERNEL=0 lab_up
serve_start --tcp-echo 7
ours=$(in_a timeout 120 python3 "$KDIR/tcp_echo_check.py" "$B" 7 0 0 $N) || die "xstack: $ours"
sleep 0.5
serve_stop
expect_all_fin $N
rate() { sed -E 's/.*\(([0-9]+)\/s\).*/\1/' <<<"$1"; }
pass "connect/request/close x $N: kernel echo server $(rate "$kernel")/s, xstack $(rate "$ours")/s (same kernel client)"
