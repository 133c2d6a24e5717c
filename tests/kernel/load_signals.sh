#!/usr/bin/env bash
# xstack load stopped by a signal prints what it measured until then: SIGINT exits 130,
# SIGTERM 143, the JSON says "interrupted": true and gives the span actually measured
# and rates over it (not 0 s and 0 req/s). Against the kernel's UDP echo server.
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
peer_start xs-b udp:7 python3 "$KDIR/udp_echo_server.py" "$B" 7 60

# interrupt SIG WANT ARGS...: a 30 s run, signalled after 1.5 s; checks the report.
interrupt() {
    local sig=$1 want=$2 rc=0 pid
    shift 2
    hx_load_argv --driver "$DRIVER" --json --interval 0.5 --duration 30 "$@"
    hx_spawn pid "xstack load" "" "$WORK/load.out" "$WORK/load.err" "${HX_ARGV[@]}"
    sleep 1.5
    kill "-$sig" "$pid"
    for _ in $(seq 100); do
        alive "$pid" || break
        sleep 0.1
    done
    alive "$pid" && die "xstack load still runs 10 s after SIG$sig"
    wait "$pid" || rc=$?
    [ "$rc" = "$want" ] || die "SIG$sig: exit status $rc, not $want: $(tail -3 "$WORK/load.err")"
    python3 "$KDIR/load_check.py" "$WORK/load.out" --interrupted >/dev/null \
        || die "SIG$sig: $(python3 "$KDIR/load_check.py" "$WORK/load.out" --interrupted 2>&1)"
}

interrupt INT 130 --target "$B:7" --proto udp --connections 2
pass "SIGINT: report printed, interrupted, exit 130 ($(load_json requests) requests in $(load_json duration_s) s)"
interrupt TERM 143 --target "$B:7" --proto udp --connections 2
pass "SIGTERM: report printed, interrupted, exit 143 ($(load_json requests) requests in $(load_json duration_s) s)"
