#!/usr/bin/env bash
# HTTP load generators side by side: wrk (Debian's) and xstack load --app http, each
# pinned to the same single client core (0), against the same Debian nginx (one worker,
# pinned to core 1, access_log off) in xs-b, serving a small static file over keep-alive
# connections. Rounds alternate wrk and xstack; each ratio is the median of the per-round
# xstack/wrk ratios (tests/harness/stats.py).
#
#   1. requests/s at saturation with 16 and with 64 connections (closed loop);
#   2. latency p50/p99/p99.9: one connection, closed loop, both; and xstack in open loop
#      at RATE requests/s over 16 connections, latency from the intended send time (wrk
#      has no open loop: it is wrk2's addition, and Debian has no wrk2), compared with
#      wrk's single connection. RATE=auto (the default) is a quarter of the rate wrk
#      reached with 16 connections in round 1: moderate, whatever the machine does today.
# Each run records the client's and nginx's CPU time (utime+stime from /proc/PID/stat,
# over the run, in % of one core), which says which side saturated, and the CPU that
# everything else on the machine took meanwhile (from /proc/stat; the cores are shared
# with whatever else runs). xstack busy-polls, so its client CPU is about 100 % when it
# has the core to itself: the server's CPU decides. Its own busy-time counter (`busy_s /
# run_s` of the JSON: batches that received frames, kick included) is the part of that
# core that did work; wrk's is its CPU. The rate divided by that share is the rate one
# client core would sustain if the client were the bottleneck ("per busy client core").
#   SECS=5 (per run)   ROUNDS=3   RATE=auto|N   SIZE=1024 (file bytes)   OUT=DIR
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-auto}
SIZE=${SIZE:-1024}
source bench/lib.sh
source tests/harness/nginx.sh
bench_init http.sh
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null \
        || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
fi
C=0
S=$(($(nproc) > 1 ? 1 : 0))
URL="http://$B/file.bin"
LAB_B_KERNEL=1 hx_lab_up
nginx_prepare "$OUT/nginx" "$B" 80 "$SIZE"
nginx_start SPID "$OUT/nginx" "$S" || { log "nginx did not start: $(tail -3 "$OUT/nginx/error.log")"; exit 1; }
WORKER=$(cat "/proc/$SPID/task/$SPID/children" | awk '{print $1}')
[ -n "$WORKER" ] || { log "no nginx worker under $SPID"; exit 1; }

# wrk's Lua done() hook prints what its text report rounds away: p99.9, in microseconds.
cat >"$OUT/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
LUA

ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }
# busy: CPU ticks of all cores, busy ones (user nice system irq softirq steal).
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
HZ=$(getconf CLK_TCK)

# measured NAME CMD...: runs CMD (in xs-a) in the background and records its CPU,
# nginx's and everything else's over the run, from the last of samples taken every 0.1 s
# while it runs (CPU: "CLIENT% NGINX% OTHERS%"); CMD's stdout in $OUT/NAME.out.
measured() {
    local name=$1 pid t0 s0 c c1=0 s1 t1 a0 a1
    shift
    t0=$(date +%s.%N) s0=$(ticks "$WORKER") s1=$s0 t1=$t0 a0=$(busy) a1=$a0
    hx_spawn pid "$name" "" "$OUT/$name.out" "$OUT/$name.err" "$@"
    while c=$(ticks "$pid") && [ -n "$c" ] && hx_running "$pid"; do
        c1=$c s1=$(ticks "$WORKER") t1=$(date +%s.%N) a1=$(busy)
        sleep 0.1
    done
    hx_wait "$pid" || true
    CPU=$(python3 -c "
w = max($t1 - $t0, 1e-9)
pct = lambda ticks: ticks / $HZ / w * 100
client, server = pct($c1), pct($s1 - $s0)
print(f'{client:.0f} {server:.0f} {max(0.0, pct($a1 - $a0) - client - server):.0f}')")
}

wrk_run() {
    local c=$1 vals
    measured "wrk-$c" ip netns exec "$HX_NS_A" taskset -c "$C" wrk -t1 -c"$c" -d"${SECS}s" \
        -s "$OUT/report.lua" "$URL"
    if vals=$(awk '/^WRK/ {printf "%.0f %.1f %.1f %.1f %d", $2 / ($3 / 1e6), $4, $5, $6, $7 + $8}' \
        "$OUT/wrk-$c.out") && [ -n "$vals" ]; then
        # wrk sleeps in epoll when it has nothing to do: its CPU is its busy time.
        echo "$ROUND wrk-$c $vals $CPU ${CPU%% *}" >>"$OUT/results"
    else
        log "wrk -c$c gave no result: $(tail -2 "$OUT/wrk-$c.err")"
    fi
}

xstack_run() {
    local name=$1 vals
    shift
    HX_TASKSET=$C hx_load_argv --driver xdp --poll busy --cores "$C" --json --app http --url "$URL" \
        --duration "$SECS" "$@"
    measured "$name" "${HX_ARGV[@]}"
    if vals=$(load_result "$name" "$OUT/$name.out" throughput_rps latency_us.p50 latency_us.p99 \
        latency_us.p999 errors); then
        # It busy-polls, so its CPU is always ~100 %: its own busy-time counter says how
        # much of it did work (batches that received frames, the kick included).
        local work
        work=$(python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(f'{100 * d[\"busy_s\"] / max(d[\"run_s\"], 1e-9):.0f}')" "$OUT/$name.out")
        echo "$ROUND $name $vals $CPU $work" >>"$OUT/results"
    fi
}

: >"$OUT/results"
for ROUND in $(seq "$ROUNDS"); do
    log "round $ROUND of $ROUNDS"
    for c in 16 64 1; do
        wrk_run "$c"
        xstack_run "xstack-$c" --connections "$c"
    done
    if [ "$RATE" = auto ]; then
        RATE=$(awk '$2 == "wrk-16" {printf "%.0f", $3 / 4; exit}' "$OUT/results")
        [ -n "$RATE" ] && [ "$RATE" -gt 0 ] || RATE=1000
        log "open loop at $RATE requests/s (a quarter of wrk's 16-connection rate)"
    fi
    xstack_run xstack-open --connections 16 --rate "$RATE"
done
hx report http "$OUT/results" "$SECS" "$ROUNDS" "$RATE" "$SIZE"
log "raw results in $OUT"
