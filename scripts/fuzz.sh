#!/usr/bin/env bash
# Fuzzes xstack: builds the libFuzzer targets of fuzz/ with cargo fuzz (address
# sanitizer, debug assertions) and runs each for FUZZ_SECS seconds, starting from every
# committed input (fuzz/corpus/<target>, and fuzz/regressions/<target>: the inputs that
# once crashed it, each run first). Fails if any input crashes or hangs a target; the
# crashing input is left in fuzz/artifacts/<target>/ and the command that replays it is
# printed. Nothing in the tree changes: the inputs a run finds go to a scratch directory.
# (`cargo test --release --manifest-path fuzz/Cargo.toml` replays the committed inputs on
# the plain toolchain, without libFuzzer.)
#
# Usage: scripts/fuzz.sh [TARGET...]      (default: every target, `cargo fuzz list`)
# Environment:
#   FUZZ_SECS=N   seconds per target (default 20: the whole run stays under 4 minutes on
#                 2 cores once built); FUZZ_SECS=600 is the long run (docs/fuzzing.md)
#   FUZZ_KEEP=DIR keep the corpus each target grew in DIR/<target> (default: a scratch
#                 directory, removed)
#   CARGO_TARGET_DIR as usual (the fuzz build goes to its own triple directory there)
#
# cargo fuzz passes nightly flags (-Zsanitizer, coverage instrumentation) to rustc; the
# stable toolchain accepts them with RUSTC_BOOTSTRAP=1, so no nightly is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${FUZZ_SECS:-20}
case "$secs" in
'' | *[!0-9]*) echo "fuzz.sh: FUZZ_SECS must be a number of seconds, not '$secs'" >&2; exit 2 ;;
esac
command -v cargo >/dev/null || { echo "fuzz.sh: cargo not found" >&2; exit 1; }
cargo fuzz --version >/dev/null 2>&1 \
    || { echo "fuzz.sh: cargo-fuzz is not installed: run scripts/setup.sh (or cargo install cargo-fuzz --locked)" >&2; exit 1; }
export RUSTC_BOOTSTRAP=1

# Longest input per target: frames for the wire targets, runs of frames for the stack,
# a response stream past the 12 KiB head limit for the HTTP parser.
max_len() {
    case "$1" in
    stack) echo 16384 ;;
    app_http) echo 20480 ;;
    *) echo 2048 ;;
    esac
}

mapfile -t all < <(cargo fuzz list)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
    printf '%s\n' "${all[@]}" | grep -qx "$t" || { echo "fuzz.sh: no target $t (have: ${all[*]})" >&2; exit 2; }
done

echo "== fuzz: building ${#targets[@]} targets (cargo fuzz, address sanitizer)"
for t in "${targets[@]}"; do
    if ! blog=$(cargo fuzz build "$t" 2>&1); then
        echo "$blog" | tail -30
        echo "fuzz.sh: building $t failed" >&2
        exit 1
    fi
done

scratch=$(mktemp -d /tmp/xstack-fuzz-corpus.XXXXXX)
keep=${FUZZ_KEEP:-}
trap 'rm -rf "$scratch"' EXIT
crashed=()
echo "== fuzz: ${secs} s per target"
for t in "${targets[@]}"; do
    work="$scratch/$t"
    [ -n "$keep" ] && work="$keep/$t"
    mkdir -p "$work" "fuzz/artifacts/$t"
    out="$scratch/$t.log"
    rc=0
    # New inputs go to the first directory; the committed ones are only read.
    dirs=("$work" "fuzz/corpus/$t")
    [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
    cargo fuzz run "$t" "${dirs[@]}" -- \
        -max_total_time="$secs" -timeout=10 -max_len="$(max_len "$t")" \
        -print_final_stats=1 >"$out" 2>&1 || rc=$?
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$out" | grep -oE '[0-9]+$' || echo 0)
    cov=$(grep -oE 'cov: [0-9]+' "$out" | tail -1 | cut -d' ' -f2)
    units=$(find "$work" -type f | wc -l)
    if [ "$rc" = 0 ]; then
        printf '[%s] ok: %s inputs in %s s (%s/s), coverage %s, corpus %s\n' \
            "$t" "$runs" "$secs" "$((runs / (secs > 0 ? secs : 1)))" "${cov:-?}" "$units"
    else
        crashed+=("$t")
        echo "[$t] CRASHED:"
        grep -E 'panicked at|ERROR: |SUMMARY|Test unit written|^  [0-9]+: xstack' "$out" | head -12 | sed 's/^/    /'
        art=$(grep -oE 'Test unit written to [^ ]+' "$out" | tail -1 | cut -d' ' -f5)
        [ -n "$art" ] && echo "    replay: RUSTC_BOOTSTRAP=1 cargo fuzz run $t $art"
    fi
done
echo "fuzz: ${#targets[@]} targets, $((${#targets[@]} - ${#crashed[@]})) passed, ${#crashed[@]} crashed${crashed:+: ${crashed[*]}}"
[ ${#crashed[@]} = 0 ]
