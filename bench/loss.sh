#!/usr/bin/env bash
# TCP loss recovery against the kernel's, with real random loss on the path, in one run.
#
# The lab gets a third namespace (LAB_BRIDGE=1, scripts/lab.sh): xsa0 and xsb0 are joined
# through the bridge xsbr0 in xs-br, and nftables drops LOSS % of the TCP frames entering
# the bridge from either side (netdev ingress on its two ports), SYNs and SYN-ACKs aside.
# Loss there is loss for both ends: the kernel's own egress rules of tests/kernel/
# tcp_loss.sh lose nothing for the kernel's TCP, which sends again at once.
#
# At each loss rate, ROUNDS rounds, the order alternating, of the same transfer: a kernel
# client in xs-a (tests/kernel/tcp_echo_check.py) opens CONNS connections at once, sends
# SIZE random bytes on each, half-closes, and reads the echo back byte for byte, against
#   kernel        the kernel's TCP in xs-b (tests/kernel/tcp_echo_server.py on .2), both
#                 kernels with their default congestion control (on this host BBR, which
#                 does not take random loss for congestion)
#   xstack        xstack serve --tcp-echo 7 in xs-b (DRIVER, default xdp): SACK, RFC 6675,
#                 RACK-TLP, and the congestion control of the kernel's family
#                 (--congestion bbr when the host's default is bbr, else newreno;
#                 XSTACK_CC= overrides); the client as above
#   kernel-reno   as kernel, both kernels with net.ipv4.tcp_congestion_control=reno: the
#                 kernel's loss recovery with the congestion response xstack has
#   kernel-nots   as kernel, the server's kernel with net.ipv4.tcp_timestamps=0: the
#                 kernel pair without TCP timestamps (RFC 7323)
#   xstack-reno   as xstack with --congestion newreno, the kernel client with reno
#   xstack-b      as xstack, with the binary XSTACK_B_BIN (another build, for an A/B of
#                 a change to loss recovery in the same rounds)
# Reported per rate: the median time of each, and xstack / kernel and xstack-reno /
# kernel-reno as medians of the per-round ratios (tests/harness/stats.py). A run is
# bounded by LIMIT seconds; one that fails or runs out of time counts as LIMIT and is
# reported as failed. KINDS="kernel xstack" skips the Reno pair.
#   ROUNDS=3  LOSSES="3 10 20"  CONNS=10  SIZE=262144  LIMIT=120  DRIVER=xdp
#   KINDS="kernel xstack kernel-reno xstack-reno"  OUT=DIR
#   LOSS_SYN=1 loses handshake segments too (spared by default)
#   PCAP=1 also writes xstack's frames, as it saw them, to OUT/xstack-LOSS-ROUND.pcap,
#   and the client's (tcpdump in xs-a) to OUT/client-LOSS-ROUND.pcap; in the kernel's
#   runs, the server's (tcpdump in xs-b) to OUT/KIND-LOSS-ROUND.pcap
# Server on core 1, client on core 0 (this host has two, shared with whatever else runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
LOSSES=${LOSSES:-"3 10 20"}
CONNS=${CONNS:-10}
SIZE=${SIZE:-262144}
LIMIT=${LIMIT:-120}
DRIVER=${DRIVER:-xdp}
KINDS=${KINDS:-"kernel xstack kernel-reno xstack-reno"}
for k in $KINDS; do
    case "$k" in
    kernel | xstack | kernel-reno | xstack-reno | kernel-nots) ;;
    xstack-b) [ -x "${XSTACK_B_BIN:-}" ] || { echo "loss.sh: kind xstack-b needs XSTACK_B_BIN, an xstack binary" >&2; exit 2; } ;;
    *) echo "loss.sh: unknown kind $k" >&2; exit 2 ;;
    esac
done
case "$DRIVER" in xdp | packet) ;; *) echo "loss.sh: DRIVER must be xdp or packet, not $DRIVER" >&2; exit 2 ;; esac
for l in $LOSSES; do
    case "$l" in
    [0-9] | [1-4][0-9] | 50) ;;
    *) echo "loss.sh: each of LOSSES must be a whole percentage from 0 to 50, not $l" >&2; exit 2 ;;
    esac
done
# xstack's congestion control against the kernel pair: the family of the kernel's
# default (bbr for bbr, newreno for reno or cubic), unless XSTACK_CC says.
host_cc=$(sysctl -n net.ipv4.tcp_congestion_control 2>/dev/null || echo cubic)
XSTACK_CC=${XSTACK_CC:-$([ "$host_cc" = bbr ] && echo bbr || echo newreno)}
case "$XSTACK_CC" in newreno | bbr) ;; *) echo "loss.sh: XSTACK_CC must be newreno or bbr" >&2; exit 2 ;; esac
export LAB_BRIDGE=1
source bench/lib.sh
bench_init loss.sh
C=0
S=$(($(nproc) > 1 ? 1 : 0))

# loss_on PCT: drops PCT % of the TCP frames entering the bridge from each side.
loss_on() {
    local permille=$(($1 * 10)) match="meta l4proto tcp"
    # The handshake is spared unless LOSS_SYN=1: a lost SYN or SYN-ACK costs the 1 s
    # initial RTO (and leaves the kernel client a conservative RTO for the transfer),
    # the same for both servers, and it would swamp the recovery being measured.
    [ "${LOSS_SYN:-0}" = 1 ] || match+=" tcp flags & syn == 0"
    ip netns exec "$HX_NS_BR" nft -f - <<NFT || { log "cannot install the loss rules in $HX_NS_BR"; exit 1; }
table netdev xsloss {
    chain from_a {
        type filter hook ingress device "${HX_IF_A}br" priority 0;
        $match numgen random mod 1000 < $permille counter drop;
    }
    chain from_b {
        type filter hook ingress device "${HX_IF_B}br" priority 0;
        $match numgen random mod 1000 < $permille counter drop;
    }
}
NFT
}

# dropped: the frames the loss rules dropped, from a and from b.
dropped() {
    ip netns exec "$HX_NS_BR" nft list table netdev xsloss | grep -o 'packets [0-9]*' | awk '{printf "%s ", $2}'
}

# kernel_counters NS: the TCP timeouts, retransmitted segments and loss probes of NS's
# kernel, as name=value.
kernel_counters() {
    ip netns exec "$1" nstat -asz TcpExtTCPTimeouts TcpRetransSegs TcpExtTCPLossProbes \
        TcpExtTCPSackRecovery 2>/dev/null | awk 'NR > 1 {sub(/^Tcp(Ext)?/, "", $1); printf "%s=%s ", $1, $2}'
}

# server KIND LOSS ROUND: a fresh lab with the loss rules and the server of KIND; a -reno kind
# sets the kernels' congestion control to reno.
server() {
    stop_server
    hx_lab_down
    case "$1" in
    kernel*)
        LAB_B_KERNEL=1 hx_lab_up
        [ "$1" = kernel-reno ] && ip netns exec "$HX_NS_B" sysctl -qw net.ipv4.tcp_congestion_control=reno
        [ "$1" = kernel-nots ] && ip netns exec "$HX_NS_B" sysctl -qw net.ipv4.tcp_timestamps=0
        serve_peer tcp:7 taskset -c "$S" python3 tests/kernel/tcp_echo_server.py "$B" 7
        ;;
    xstack*)
        hx_lab_up
        # The harness starts HX_BIN; xstack-b runs the other build.
        local HX_BIN=$HX_BIN
        [ "$1" = xstack-b ] && HX_BIN=$XSTACK_B_BIN
        # shellcheck disable=SC2046
        serve_xstack "$OUT/serve.out" --driver "$DRIVER" --tcp-echo 7 --cores "$S" --json \
            --congestion "$([ "$1" = xstack-reno ] && echo newreno || echo "$XSTACK_CC")" \
            $([ "${PCAP:-0}" = 1 ] && echo --pcap "$OUT/xstack-$2-$3.pcap")
        ;;
    esac
    case "$1" in
    *-reno) ip netns exec "$HX_NS_A" sysctl -qw net.ipv4.tcp_congestion_control=reno ;;
    esac
    loss_on "$2"
}

# run KIND LOSS ROUND: one transfer; appends "ROUND KIND SECONDS OK" to $OUT/loss-LOSS.
run() {
    local kind=$1 loss=$2 round=$3 res secs ok=1
    server "$kind" "$loss" "$round"
    # PCAP=1: the client's side of xstack's runs too, so that each loss can be placed.
    local cap=""
    # For the kernel's runs, the server's side (tcpdump in xs-b), to compare the servers.
    if [ "${PCAP:-0}" = 1 ]; then
        if [ "${kind:0:6}" = xstack ]; then
            ip netns exec "$HX_NS_A" tcpdump -i "$HX_IF_A" -s 128 -w "$OUT/client-$loss-$round.pcap" tcp \
                2>/dev/null &
        else
            ip netns exec "$HX_NS_B" tcpdump -i "$HX_IF_B" -s 128 -w "$OUT/$kind-$loss-$round.pcap" tcp \
                2>/dev/null &
        fi
        cap=$!
        sleep 0.5
    fi
    if res=$(ip netns exec "$HX_NS_A" timeout "$LIMIT" taskset -c "$C" \
        python3 tests/kernel/tcp_echo_check.py "$B" 7 "$CONNS" "$SIZE" 0 2>"$OUT/client.err"); then
        secs=$(echo "$res" | sed -n 's/.* echoed in \([0-9.]*\) s;.*/\1/p')
    else
        ok=0
        log "$kind at $loss %, round $round: failed or out of time: $res $(tail -n 2 "$OUT/client.err")"
    fi
    if [ -n "$cap" ]; then
        sleep 0.2
        kill "$cap" 2>/dev/null || true
        wait "$cap" 2>/dev/null || true
    fi
    [ -n "${secs:-}" ] || { secs=$LIMIT; ok=0; }
    [ "$ok" = 1 ] || secs=$LIMIT
    log "$kind at $loss %, round $round: $secs s (dropped from a, from b: $(dropped))"
    echo "$round $kind $secs $ok" >>"$OUT/loss-$loss"
    # The kernels' own recovery counters (each run has fresh namespaces, so absolute
    # values are this run's): the client's always, the server's when it is the kernel.
    echo "$round $kind $secs client $(kernel_counters "$HX_NS_A") server $(
        [ "${kind:0:6}" = kernel ] && kernel_counters "$HX_NS_B")" >>"$OUT/kernel-counters-$loss"
    if [ "${kind:0:6}" = xstack ]; then
        stop_server
        echo "$kind $round $(hx json "$OUT/serve.out" tcp_retransmits tcp_timeouts \
            tcp_fast_retransmits tcp_loss_probes tcp_sack_connections tcp_dsacks_sent \
            tcp_out_of_order tcp_rescue_retransmits)" >>"$OUT/xstack-counters-$loss" || true
    fi
}

for loss in $LOSSES; do
    : >"$OUT/loss-$loss"
    for round in $(seq "$ROUNDS"); do
        order=$KINDS
        [ $((round % 2)) = 0 ] && order=$(echo "$KINDS" | tr ' ' '\n' | tac | tr '\n' ' ')
        for kind in $order; do run "$kind" "$loss" "$round"; done
    done
done
stop_server

# median_of KIND FILE: the median time of KIND's runs, or nan if it did not run.
median_of() {
    local v
    v=$(awk -v k="$1" '$2 == k {print $3}' "$2")
    if [ -n "$v" ]; then
        # shellcheck disable=SC2086
        hx median $v
    else
        echo nan
    fi
}
failed_of() { awk -v k="$1" '$2 == k && $4 == 0' "$2" | wc -l; }

echo "| loss both ways | kernel ↔ kernel (s) | kernel → xstack (s) | xstack / kernel | kernel ↔ kernel, reno (s) | kernel (reno) → xstack (s) | xstack / kernel, reno | failed runs |"
echo "|---|---|---|---|---|---|---|---|"
json="{\"conns\": $CONNS, \"size\": $SIZE, \"rounds\": $ROUNDS, \"driver\": \"$DRIVER\", \"rates\": ["
sep=""
for loss in $LOSSES; do
    f="$OUT/loss-$loss"
    k=$(median_of kernel "$f")
    x=$(median_of xstack "$f")
    kr=$(median_of kernel-reno "$f")
    xr=$(median_of xstack-reno "$f")
    r=$(hx ratio "$f" xstack kernel 0)
    rr=$(hx ratio "$f" xstack-reno kernel-reno 0)
    if [[ " $KINDS " == *" xstack-b "* ]]; then
        log "at $loss %: xstack-b $(median_of xstack-b "$f") s median; xstack-b / xstack $(hx ratio "$f" xstack-b xstack 0), xstack-b / kernel $(hx ratio "$f" xstack-b kernel 0) (medians of per-round ratios)"
    fi
    if [[ " $KINDS " == *" kernel-nots "* ]]; then
        log "at $loss %: kernel-nots $(median_of kernel-nots "$f") s median; kernel-nots / kernel $(hx ratio "$f" kernel-nots kernel 0), xstack / kernel-nots $(hx ratio "$f" xstack kernel-nots 0) (medians of per-round ratios)"
    fi
    failed=""
    for kind in $KINDS; do
        n=$(failed_of "$kind" "$f")
        [ "$n" = 0 ] || failed+="$kind $n "
    done
    printf '| %s %% | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %s |\n' "$loss" "$k" "$x" "$r" "$kr" "$xr" "$rr" "${failed:-none}"
    json+="$sep{\"loss\": $loss, \"kernel_s\": $k, \"xstack_s\": $x, \"ratio\": $r, \"kernel_reno_s\": $kr, \"xstack_reno_s\": $xr, \"ratio_reno\": $rr, \"failed\": \"${failed% }\"}"
    sep=", "
done
echo "$json]}" | sed -E "s/([:,] )nan([,}])/\1null\2/g"
log "raw results in $OUT"
