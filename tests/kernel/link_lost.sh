#!/usr/bin/env bash
# The interface goes away under running xstacks, twice: first each side's interface is set
# down (`ip link set down`), then the veth pair is deleted, while serve (xs-b) and load
# (xs-a, against it) run. Each time both must notice within 2 s, say so in one sentence,
# print their summary (JSON), and exit non-zero; neither may spin on.
source "$(dirname "$0")/lib.sh"
lab_up

# lose HOW: start serve and load, take the link away (down: both ends set down; del: the
# pair deleted), and check that both stopped as they should. Leaves what it saw in SAW.
lose() {
    local how=$1 said
    rm -f "$WORK"/serve.* "$WORK"/load.*
    serve_start --udp-echo 7
    hx_load_argv --driver "$DRIVER" --json --target "$B:7" --proto udp --connections 2 --duration 30
    hx_spawn LOAD_PID load "" "$WORK/load.out" "$WORK/load.err" "${HX_ARGV[@]}"
    sleep 1.5
    hx_running "$LOAD_PID" || die "load exited early: $(tail -3 "$WORK/load.err")"
    local t0
    t0=$(date +%s.%N)
    case $how in
    down)
        ip -n "$HX_NS_B" link set "$HX_IF_B" down
        ip -n "$HX_NS_A" link set "$HX_IF_A" down
        said="went down"
        ;;
    del)
        ip -n "$HX_NS_B" link del "$HX_IF_B"
        said="went away"
        ;;
    esac
    for _ in $(seq 40); do
        hx_running "$SERVE_PID" || hx_running "$LOAD_PID" || break
        sleep 0.05
    done
    local t
    t=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$t0" "$(date +%s.%N)")
    hx_running "$SERVE_PID" && die "serve still runs $t s after its interface $said"
    hx_running "$LOAD_PID" && die "load still runs $t s after its interface $said"
    local src=0 lrc=0
    hx_wait "$SERVE_PID" || src=$?
    SERVE_PID=""
    hx_wait "$LOAD_PID" || lrc=$?
    [ "$src" != 0 ] || die "serve exited 0 after its interface $said"
    [ "$lrc" != 0 ] || die "load exited 0 after its interface $said"
    grep -q "xstack: $HX_IF_B $said" "$WORK/serve.err" || die "serve did not say why: $(tail -3 "$WORK/serve.err")"
    grep -q "xstack: $HX_IF_A $said" "$WORK/load.err" || die "load did not say why: $(tail -3 "$WORK/load.err")"
    tail -n 1 "$WORK/serve.out" >"$WORK/summary.json"
    [ "$(summary link_lost)" != None ] && [ -n "$(summary link_lost)" ] || die "serve's summary has no link_lost"
    [ "$(summary udp_echo_replies)" -gt 0 ] || die "serve's summary counted no echo"
    [ "$(load_json outcome.status)" = link_lost ] || die "load's outcome is $(load_json outcome.status)"
    SAW="$how: serve (exit $src) and load (exit $lrc) stopped within $t s, each with a sentence and a summary ($(summary udp_echo_replies) echoes, $(load_json requests) requests)"
}

lose down
down=$SAW
ip -n "$HX_NS_B" link set "$HX_IF_B" up
ip -n "$HX_NS_A" link set "$HX_IF_A" up
sleep 0.5
lose del
pass "$down; $SAW"
