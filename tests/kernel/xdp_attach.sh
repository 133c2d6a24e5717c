#!/usr/bin/env bash
# xstack's XDP program and the interface it shares with others:
#  - SIGKILL of serve and of load leaves no XDP program behind (BPF link), and the next
#    start says nothing about one;
#  - a program an earlier xstack left attached (by netlink) is replaced with a notice;
#  - a program xstack did not attach is left alone and named, and xstack exits non-zero
#    saying how to remove it (packet mode runs beside it, and leaves it too);
#  - a second xstack on the same interface is refused, naming the running one;
#  - --queues beyond the interface's receive queues is an error;
#  - --xdp-mode auto attaches generic on a veth and says why in one sentence on stderr,
#    and --xdp-mode native and generic attach in the mode asked, without that sentence.
source "$(dirname "$0")/lib.sh"
lab_up

has_prog() { ip -n "$1" link show "$2" | grep -q prog/xdp; }
udp_ok() { in_a python3 "$KDIR/udp_check.py" "$B" 7 "${1:-20}" >/dev/null; }

# 1. SIGKILL, serve.
serve_start --udp-echo 7
udp_ok || die "serve did not answer before the SIGKILL"
kill -KILL "$SERVE_PID"
hx_wait "$SERVE_PID" || true
SERVE_PID=""
for _ in $(seq 20); do has_prog "$HX_NS_B" "$HX_IF_B" || break; sleep 0.1; done
has_prog "$HX_NS_B" "$HX_IF_B" && die "an XDP program is still on $HX_IF_B after SIGKILL of serve"
serve_start --udp-echo 7
grep -qi "replacing\|already" "$WORK/serve.err" && die "the next start spoke of an old program: $(cat "$WORK/serve.err")"
udp_ok || die "serve did not answer after the restart"

# 2. SIGKILL, load (in xs-a, against serve).
hx_load_argv --driver "$DRIVER" --target "$B:7" --proto udp --connections 4 --duration 30
hx_spawn LOAD_PID load "" "$WORK/load.out" "$WORK/load.err" "${HX_ARGV[@]}"
for _ in $(seq 50); do has_prog "$HX_NS_A" "$HX_IF_A" && break; sleep 0.1; done
sleep 0.5
hx_running "$LOAD_PID" || die "load exited early: $(tail -3 "$WORK/load.err")"
if [ "$DRIVER" = xdp ]; then
    has_prog "$HX_NS_A" "$HX_IF_A" || die "load runs on AF_XDP but $HX_IF_A shows no XDP program"
fi
kill -KILL "$LOAD_PID"
hx_wait "$LOAD_PID" || true
for _ in $(seq 20); do has_prog "$HX_NS_A" "$HX_IF_A" || break; sleep 0.1; done
has_prog "$HX_NS_A" "$HX_IF_A" && die "an XDP program is still on $HX_IF_A after SIGKILL of load"

# 3. A second xstack on the same interface.
hx_serve_argv --udp-echo 7 --driver "$DRIVER"
rc=0
timeout 10 "${HX_ARGV[@]}" >"$WORK/second.out" 2>"$WORK/second.err" || rc=$?
if [ "$DRIVER" = xdp ]; then
    [ "$rc" != 0 ] || die "a second xstack on $HX_IF_B started"
    grep -q "xstack (pid $SERVE_PID) is already running on $HX_IF_B" "$WORK/second.err" \
        || die "the refusal does not name the running xstack: $(cat "$WORK/second.err")"
    log "second xstack refused: $(grep error "$WORK/second.err")"
fi
serve_stop

# 4. --queues beyond the interface's queues (the lab has one).
hx_serve_argv --udp-echo 7 --driver "$DRIVER" --queues 2
rc=0
timeout 10 "${HX_ARGV[@]}" >"$WORK/q.out" 2>"$WORK/q.err" || rc=$?
if [ "$DRIVER" = xdp ]; then
    [ "$rc" = 1 ] || die "--queues 2 on a one-queue veth: exit $rc, not 1"
    grep -q "has 1 receive queue" "$WORK/q.err" || die "--queues 2: $(cat "$WORK/q.err")"
fi

# Trivial XDP programs, built here: one that xstack did not attach, and one named as
# xstack's own, as an earlier xstack that attached by netlink would have left it.
cat >"$WORK/prog.c" <<'C'
__attribute__((section("xdp"), used)) int NAME(void *ctx) { return 2; /* XDP_PASS */ }
__attribute__((section("license"), used)) char _license[] = "GPL";
C
clang -target bpf -O2 -DNAME=foreign_pass -c "$WORK/prog.c" -o "$WORK/foreign.o" || die "clang -target bpf failed"
clang -target bpf -O2 -DNAME=xstack_redirect -c "$WORK/prog.c" -o "$WORK/old.o" || die "clang -target bpf failed"

# 5. A foreign program is named and never touched.
in_b ip link set dev "$HX_IF_B" xdpgeneric obj "$WORK/foreign.o" sec xdp || die "cannot attach the foreign program"
id=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | grep -o 'prog/xdp id [0-9]*' | awk '{print $3}')
if [ "$DRIVER" = xdp ]; then
    hx_serve_argv --udp-echo 7 --driver xdp
    rc=0
    timeout 10 "${HX_ARGV[@]}" >"$WORK/f.out" 2>"$WORK/f.err" || rc=$?
    [ "$rc" = 1 ] || die "serve beside a foreign XDP program: exit $rc, not 1"
    grep -q "id $id, name foreign_pass" "$WORK/f.err" || die "the foreign program is not named: $(cat "$WORK/f.err")"
    grep -q "ip link set dev $HX_IF_B xdpgeneric off" "$WORK/f.err" || die "no way to remove it is given: $(cat "$WORK/f.err")"
    log "foreign program: $(grep error "$WORK/f.err")"
else
    serve_start --udp-echo 7
    udp_ok || die "packet mode did not answer beside an XDP_PASS program"
    hx_stop "$SERVE_PID" INT 10 || die "serve did not stop"
    SERVE_PID=""
fi
ip -n "$HX_NS_B" link show "$HX_IF_B" | grep -q "prog/xdp id $id " || die "the foreign program was touched"
in_b ip link set dev "$HX_IF_B" xdpgeneric off

# 6. A program an earlier xstack left is replaced, with a notice (AF_XDP only: packet
# mode attaches nothing).
if [ "$DRIVER" = xdp ]; then
    in_b ip link set dev "$HX_IF_B" xdpgeneric obj "$WORK/old.o" sec xdp || die "cannot attach the old program"
    id=$(ip -n "$HX_NS_B" link show "$HX_IF_B" | grep -o 'prog/xdp id [0-9]*' | awk '{print $3}')
    serve_start --udp-echo 7
    grep -q "replacing the XDP program xstack_redirect (id $id)" "$WORK/serve.err" \
        || die "no notice about the old program: $(cat "$WORK/serve.err")"
    udp_ok || die "serve did not answer after replacing the old program"
    serve_stop
fi
# 7. --xdp-mode: auto's choice on a veth and its sentence; the forced modes.
# `ip link` says xdpgeneric for a program attached in generic (skb) mode, xdp in native.
attached_mode() { ip -n "$HX_NS_B" link show "$HX_IF_B" | head -n 1 | grep -o -w -E 'xdpgeneric|xdp'; }
if [ "$DRIVER" = xdp ]; then
    serve_start --udp-echo 7
    grep -q "^xstack: --xdp-mode auto chose generic on $HX_IF_B: its driver is veth" "$WORK/serve.err" \
        || die "auto did not say it chose generic because of veth: $(grep -v -E '^lib(bpf|xdp)' "$WORK/serve.err")"
    [ "$(grep -c -- '--xdp-mode auto chose' "$WORK/serve.err")" = 1 ] || die "auto's sentence is not said exactly once"
    [ "$(attached_mode)" = xdpgeneric ] || die "auto on a veth: ip link shows '$(attached_mode)', not xdpgeneric"
    grep -q "generic (skb) mode" "$WORK/serve.err" || die "the device line does not say generic mode"
    udp_ok || die "serve under auto did not answer"
    serve_stop
    for m in native generic; do
        serve_start --udp-echo 7 --xdp-mode "$m"
        want=xdp
        [ "$m" = generic ] && want=xdpgeneric
        [ "$(attached_mode)" = "$want" ] || die "--xdp-mode $m: ip link shows '$(attached_mode)', not $want"
        grep -q -- "--xdp-mode auto" "$WORK/serve.err" && die "--xdp-mode $m spoke of auto's choice"
        udp_ok || die "serve with --xdp-mode $m did not answer"
        serve_stop
    done
fi

if [ "$DRIVER" = xdp ]; then
    pass "SIGKILL of serve and load left no XDP program; a foreign program named and left; a second xstack and --queues 2 refused; an old xstack program replaced; auto chose generic on veth and said why, native and generic attach as asked"
else
    pass "SIGKILL of serve and load left no XDP program; served beside a foreign XDP_PASS program and left it attached"
fi
