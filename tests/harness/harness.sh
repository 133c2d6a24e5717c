# tests/harness/harness.sh: the shell side of the harness, sourced by tests/kernel/lib.sh
# and bench/lib.sh. Bash starts the processes (it is good at redirections, namespaces
# and `wait`); the Python package next to this file waits until they are ready, stops
# them, reads their JSON and computes the statistics (`hx COMMAND ...`, see __main__.py).
#
# Every process started here is recorded with its PID and start time, and is stopped by
# that PID only: a signal, a bounded wait, SIGKILL, then `wait` reaps it. hx_stop_all
# stops whatever is still running (call it from an EXIT trap).
#
#   hx_lab_up / hx_lab_down             scripts/lab.sh up|down (LAB_* from the environment)
#   hx_spawn VAR NAME NS OUT ERR CMD...  CMD in namespace NS ("" for none) in the
#                                        background, stdout in OUT, stderr in ERR; VAR=PID
#   hx_serve VAR OUT ERR ARGS...         xstack serve in xs-b owning $HX_B, waiting until
#                                        it says ready; returns 1 (with a sentence and its
#                                        stderr) if it exits first or is not ready in 10 s
#   hx_peer VAR NAME NS PROTO:PORT OUT ERR CMD...
#                                        a peer, waiting until it listens on PORT
#   hx_load OUT ERR ARGS...              xstack load in xs-a owning $HX_LOADGEN (foreground)
#   hx_serve_argv / hx_load_argv ARGS... the same command lines, in HX_ARGV
#   hx_stop PID [SIGNAL] [SECS]          stop one; HX_STATUS is its exit status; returns
#                                        3 if it needed SIGKILL, 4 if it could not be stopped
#   hx_wait PID                          wait for it to exit by itself; its exit status
#   hx_running PID                       true while it runs (a zombie has exited)
#   hx_stop_all                          stop everything still recorded
# HX_TASKSET=CPUS before hx_serve / hx_load / their _argv runs xstack under taskset -c.
# HX_READY_TIMEOUT (default 10) bounds the readiness waits, in seconds.

HX_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# hx COMMAND ...: python3 -m harness COMMAND ...
hx() {
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$HX_DIR/..${PYTHONPATH:+:$PYTHONPATH}" \
        python3 -m harness "$@"
}

# HX_ROOT HX_BIN HX_NS_A HX_NS_B HX_NS_BR HX_IF_A HX_IF_B HX_A HX_B HX_LOADGEN HX_PREFIX
_hx_env=$(hx env) || { echo "harness.sh: python3 -m harness env failed" >&2; exit 1; }
eval "$_hx_env"
unset _hx_env

declare -gA HX_START=() HX_NAME=()
HX_ORDER=()
HX_STATUS=""
_HX_STATE="" _HX_STARTED=""
HX_ARGV=()

hx_lab_up() { hx lab up; }
hx_lab_down() { hx lab down; }

# _hx_stat PID: sets _HX_STATE and _HX_STARTED from /proc/PID/stat; false if it is gone.
_hx_stat() {
    local s
    _HX_STATE="" _HX_STARTED=""
    read -r s 2>/dev/null <"/proc/$1/stat" || return 1
    s=${s##*) } # the command name, in parentheses, may hold spaces
    read -r -a s <<<"$s"
    _HX_STATE=${s[0]} _HX_STARTED=${s[19]}
}

hx_running() {
    _hx_stat "$1" || return 1
    [[ $_HX_STATE != [ZX] ]]
}

_hx_ident() { echo "$1${HX_START[$1]:+:${HX_START[$1]}}"; }

_hx_forget() {
    local p keep=()
    unset "HX_START[$1]" "HX_NAME[$1]"
    for p in "${HX_ORDER[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    HX_ORDER=("${keep[@]}")
}

hx_spawn() {
    local _hxs_var=$1 _hxs_name=$2 _hxs_ns=$3 _hxs_out=$4 _hxs_err=$5 _hxs_pid
    shift 5
    if [ -n "$_hxs_ns" ]; then
        # ip netns exec execs CMD: $! is CMD's own PID, and signals reach it.
        ip netns exec "$_hxs_ns" "$@" </dev/null >"$_hxs_out" 2>"$_hxs_err" &
    else
        "$@" </dev/null >"$_hxs_out" 2>"$_hxs_err" &
    fi
    _hxs_pid=$!
    _hx_stat "$_hxs_pid" || true
    HX_START[$_hxs_pid]=$_HX_STARTED
    HX_NAME[$_hxs_pid]=$_hxs_name
    HX_ORDER+=("$_hxs_pid")
    printf -v "$_hxs_var" %s "$_hxs_pid"
}

hx_stop() {
    local pid=$1 sig=${2:-TERM} secs=${3:-5} rc=0
    HX_STATUS=""
    [ -n "$pid" ] || return 0
    hx stop "$(_hx_ident "$pid")" --signal "$sig" --timeout "$secs" \
        --what "${HX_NAME[$pid]:-pid $pid}" || rc=$?
    if hx_running "$pid"; then
        [ "$rc" != 0 ] || rc=4 # never block in wait on a process that still runs
    else
        HX_STATUS=0
        wait "$pid" 2>/dev/null || HX_STATUS=$?
        _hx_forget "$pid"
    fi
    return "$rc"
}

hx_wait() {
    local st=0
    wait "$1" || st=$?
    _hx_forget "$1"
    return "$st"
}

hx_stop_all() {
    local i
    for ((i = ${#HX_ORDER[@]} - 1; i >= 0; i--)); do
        hx_stop "${HX_ORDER[i]}" TERM 5 || true
    done
}

# _hx_not_ready PID NAME: after a failed readiness wait, stops PID and says so.
_hx_not_ready() {
    hx_stop "$1" TERM 2 || true
    echo "harness: $2 is not running${HX_STATUS:+ (exit status $HX_STATUS)}" >&2
    return 1
}

hx_serve_argv() {
    HX_ARGV=(ip netns exec "$HX_NS_B")
    [ -n "${HX_TASKSET:-}" ] && HX_ARGV+=(taskset -c "$HX_TASKSET")
    HX_ARGV+=("$HX_BIN" serve --iface "$HX_IF_B" --ip "$HX_B/$HX_PREFIX" "$@")
}

hx_load_argv() {
    HX_ARGV=(ip netns exec "$HX_NS_A")
    [ -n "${HX_TASKSET:-}" ] && HX_ARGV+=(taskset -c "$HX_TASKSET")
    HX_ARGV+=("$HX_BIN" load --iface "$HX_IF_A" --ip "$HX_LOADGEN/$HX_PREFIX" "$@")
}

hx_serve() {
    local _hx_var=$1 _hx_out=$2 _hx_err=$3 _hx_pid
    shift 3
    hx_serve_argv "$@"
    hx_spawn _hx_pid "xstack serve" "" "$_hx_out" "$_hx_err" "${HX_ARGV[@]}"
    printf -v "$_hx_var" %s "$_hx_pid"
    if ! hx ready "$(_hx_ident "$_hx_pid")" --what "xstack serve $*" --stdout "$_hx_out" \
        --stderr "$_hx_err" --timeout "${HX_READY_TIMEOUT:-10}"; then
        printf -v "$_hx_var" %s ""
        _hx_not_ready "$_hx_pid" "xstack serve"
    fi
}

hx_peer() {
    local _hx_var=$1 _hx_name=$2 _hx_ns=$3 _hx_listen=$4 _hx_out=$5 _hx_err=$6 _hx_pid
    shift 6
    hx_spawn _hx_pid "$_hx_name" "$_hx_ns" "$_hx_out" "$_hx_err" "$@"
    printf -v "$_hx_var" %s "$_hx_pid"
    if ! hx ready "$(_hx_ident "$_hx_pid")" --what "$_hx_name" --listen "$_hx_listen" \
        --stderr "$_hx_err" --timeout "${HX_READY_TIMEOUT:-10}"; then
        printf -v "$_hx_var" %s ""
        _hx_not_ready "$_hx_pid" "$_hx_name"
    fi
}

hx_load() {
    local out=$1 err=$2
    shift 2
    hx_load_argv "$@"
    "${HX_ARGV[@]}" </dev/null >"$out" 2>"$err"
}
