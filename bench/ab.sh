#!/usr/bin/env bash
# Two xstack configurations against each other in paired, alternated rounds (A B, B A,
# A B, ...): xstack load -> xstack serve on the xdp driver in the veth lab, load pinned
# to core 0 and serve to core 1, both busy-polling. Per round and configuration:
#   rtt   UDP ping-pong (sockperf framing, one flow): p50 and p99 in µs
#   tput  UDP echo throughput (16 flows, closed loop): replies per second
#   serve the server's own busy time per frame over both, and its mean time per busy
#         batch in the stack and in the TX kick (serve's JSON summary)
# Prints each configuration's medians and the medians of the per-round ratios B/A.
#   AB_A=NAME:BIN:MODE  AB_B=NAME:BIN:MODE   (BIN empty: this checkout's; MODE:
#   auto|native|generic, for both ends)
#   SECS=5 (per run)   ROUNDS=5   OUT=DIR (keep the raw results there)
# Example: AB_A=old:/tmp/xstack-old:auto AB_B=new::auto bench/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-5}
: "${AB_A:?AB_A=NAME:BIN:MODE}" "${AB_B:?AB_B=NAME:BIN:MODE}"
source bench/lib.sh
bench_init ab.sh
C=0
S=$(($(nproc) > 1 ? 1 : 0))
DEFAULT_BIN=$HX_BIN

run() { # ROUND NAME:BIN:MODE
    local round=$1 name bin mode vals
    IFS=: read -r name bin mode <<<"$2"
    [ -n "$bin" ] || bin=$DEFAULT_BIN
    HX_BIN=$bin
    hx_lab_up
    HX_TASKSET=$S serve_xstack "$OUT/serve.out" --sockperf 11111 --poll busy --xdp-mode "$mode" --json
    for kind in rtt tput; do
        local conns=1
        [ "$kind" = tput ] && conns=16
        hx_load "$OUT/last.out" "$OUT/last.err" --poll busy --cores "$C" --json --xdp-mode "$mode" \
            --target "$B:11111" --proto udp --app sockperf --connections "$conns" \
            --duration "$SECS" || true
        if vals=$(load_result "$name-$kind" "$OUT/last.out" latency_us.p50 latency_us.p99 \
            throughput_rps); then
            echo "$round $name-$kind $vals" >>"$OUT/results"
        fi
    done
    grep -h "driver xdp" "$OUT/serve.err" | head -n 1 >>"$OUT/modes" || true
    stop_server
    # The server's own cost over both runs: busy time per frame (ns), and the mean time
    # per busy batch in the stack and in the TX kick (µs).
    if vals=$(hx json "$OUT/serve.out" busy_s batch_us.frames batch_us.mean flush_us.mean); then
        read -r busy frames bmean fmean <<<"$vals"
        echo "$round $name-serve $(python3 -c "print($busy * 1e9 / max($frames, 1))") $bmean $fmean" \
            >>"$OUT/results"
    else
        log "serve ($name) gave no JSON summary"
    fi
    hx_lab_down
}

# Others' CPU on this shared machine: CPU seconds used during a round by every process
# that is not xstack, from /proc/PID/stat (utime + stime), against the round's length;
# and the time the hypervisor gave the VM's CPUs to someone else (steal, /proc/stat).
cpu_snapshot() { # FILE
    python3 - "$1" <<'PY'
import os, sys, time
out = [f"T {time.monotonic()}", f"S {open('/proc/stat').readline().split()[8]}"]
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        continue
    comm, rest = s[s.index("(") + 1:s.rindex(")")], s[s.rindex(")") + 2:].split()
    out.append(f"{pid} {comm.replace(' ', '_')} {int(rest[11]) + int(rest[12])}")
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
}
others_cpu() { # BEFORE ROUND: prints "round R: others used X CPU-s in Y s (top: ...)"
    cpu_snapshot "$1.after"
    python3 - "$1" "$1.after" "$2" <<'PY'
import os, sys
def load(p):
    d, t = {}, 0.0
    for line in open(p):
        w = line.split()
        if w[0] == "T":
            t = float(w[1])
        elif w[0] == "S":
            d["steal"] = ("steal", int(w[1]))
        else:
            d[w[0]] = (w[1], int(w[2]))
    return d, t
(a, ta), (b, tb) = load(sys.argv[1]), load(sys.argv[2])
hz = os.sysconf("SC_CLK_TCK")
use = {}
steal = (b["steal"][1] - a["steal"][1]) / hz
for pid, (comm, j) in b.items():
    if comm.startswith("xstack") or pid == "steal":
        continue
    d = j - a.get(pid, (comm, 0))[1]
    if d > 0:
        use[comm] = use.get(comm, 0) + d / hz
top = sorted(use.items(), key=lambda kv: -kv[1])[:3]
print(f"round {sys.argv[3]}: others used {sum(use.values()):.1f} CPU-s in {tb - ta:.0f} s"
      f" (of 2 cores), {steal:.1f} s stolen by the hypervisor; most: "
      + ", ".join(f"{c} {s:.1f}" for c, s in top))
PY
}

: >"$OUT/results"
: >"$OUT/noise"
for r in $(seq "$ROUNDS"); do
    log "round $r of $ROUNDS"
    cpu_snapshot "$OUT/cpu.before"
    if [ $((r % 2)) = 1 ]; then run "$r" "$AB_A"; run "$r" "$AB_B"; else run "$r" "$AB_B"; run "$r" "$AB_A"; fi
    others_cpu "$OUT/cpu.before" "$r" >>"$OUT/noise"
done
HX_BIN=$DEFAULT_BIN
an=${AB_A%%:*}
bn=${AB_B%%:*}
echo "medians (rtt, tput: p50 µs, p99 µs, replies/s; serve: busy ns per frame, stack µs and"
echo "TX kick µs per batch, means):"
hx medians "$OUT/results"
for kind in rtt tput; do
    echo "$kind: per-round ratios $bn/$an, median: p50 $(hx ratio "$OUT/results" "$bn-$kind" "$an-$kind" 0)" \
        "p99 $(hx ratio "$OUT/results" "$bn-$kind" "$an-$kind" 1)" \
        "rate $(hx ratio "$OUT/results" "$bn-$kind" "$an-$kind" 2)"
done
echo "serve: per-round ratios $bn/$an, median: busy per frame $(hx ratio "$OUT/results" "$bn-serve" "$an-serve" 0)" \
    "stack per batch $(hx ratio "$OUT/results" "$bn-serve" "$an-serve" 1)" \
    "kick per batch $(hx ratio "$OUT/results" "$bn-serve" "$an-serve" 2)"
echo "others' CPU:"
cat "$OUT/noise"
log "raw results in $OUT"
