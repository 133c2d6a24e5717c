#!/usr/bin/env bash
# Runs every test tier and exits non-zero if any fails:
#   0. scripts/check-layers.sh: imports run down the layers only;
#   1. cargo test: unit, property, state-machine and simulated-network tests;
#      and the unit tests of the test harness itself (tests/harness, python3 -m unittest);
#   1b. scripts/fuzz.sh: each libFuzzer target of fuzz/ for FUZZ_SECS (20) seconds;
#   2. kernel peers over the veth lab (tests/kernel/*.sh), over the xdp and packet drivers.
# Tier 2 needs root; without it this script fails, unless --no-root-tests is given (for a
# developer's unprivileged run), in which case it says clearly that it skipped them.
# The last line is "N passed, N failed" for the kernel-peer tests.
set -euo pipefail
cd "$(dirname "$0")/.."

no_root=0
only=""
for a in "$@"; do
    case "$a" in
    --no-root-tests) no_root=1 ;;
    --only=*) only=${a#--only=} ;;
    -h | --help)
        echo "usage: scripts/test.sh [--no-root-tests] [--only=NAME]"
        exit 0
        ;;
    *) echo "test.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

if [ "$no_root" = 0 ] && [ "$(id -u)" != 0 ]; then
    echo "test.sh: the kernel-peer tests need root (network namespaces, XDP): run with sudo," >&2
    echo "         or pass --no-root-tests to run only the unprivileged tiers" >&2
    exit 1
fi

if [ "$(id -u)" = 0 ]; then
    scripts/setup.sh
else
    command -v cargo >/dev/null || { echo "test.sh: cargo not found" >&2; exit 1; }
    cargo build --release --quiet
fi

# The Python packages scripts/setup.sh installed for the tests (hdrhistogram, PyYAML).
export PYTHONPATH="$PWD/.cache/python${PYTHONPATH:+:$PYTHONPATH}"

echo "== tier 0: layers, and the Kubernetes manifest (offline)"
scripts/check-layers.sh
python3 deploy/kubernetes/check_manifest.py deploy/kubernetes/*.yaml

echo "== tier 1-3: cargo test (release: the property and simulated-network tests are heavy)"
unit_log=$(mktemp /tmp/xstack-unit.XXXXXX)
if ! cargo test --release >"$unit_log" 2>&1; then
    grep -E 'FAILED|panicked|^error|^test result' "$unit_log" | head -40
    echo "test.sh: cargo test failed (full log: $unit_log)" >&2
    exit 1
fi
grep -E '^test result' "$unit_log"
rm -f "$unit_log"

echo "== harness: python3 -m unittest (tests/harness)"
if ! harness_log=$(PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s tests/harness -t tests 2>&1); then
    echo "$harness_log" | tail -40
    echo "test.sh: the harness's unit tests failed" >&2
    exit 1
fi
echo "$harness_log" | grep -E '^(Ran|OK)'

echo "== fuzz: every fuzz target for ${FUZZ_SECS:-20} s from the committed corpus (scripts/fuzz.sh)"
if ! fuzz_log=$(scripts/fuzz.sh 2>&1); then
    echo "$fuzz_log" | tail -30
    echo "test.sh: a fuzz target crashed or did not build (scripts/fuzz.sh)" >&2
    exit 1
fi
echo "$fuzz_log" | grep -E '^\[|^fuzz:'

if [ "$no_root" = 1 ]; then
    echo "== tier 4: kernel-peer tests SKIPPED (--no-root-tests)"
    exit 0
fi

echo "== tier 4: kernel peers over veth"
passed=0
failed=0
failures=()
for t in tests/kernel/*.sh; do
    name=$(basename "$t" .sh)
    [ "$name" = lib ] && continue
    [ -n "$only" ] && [ "$name" != "$only" ] && continue
    for driver in xdp packet; do
        log=$(mktemp /tmp/xstack-tier4.XXXXXX)
        if timeout 600 "$t" "$driver" >"$log" 2>&1; then
            passed=$((passed + 1))
            grep -E '\] ok:' "$log" || echo "[$name/$driver] ok"
        else
            failed=$((failed + 1))
            failures+=("$name/$driver")
            echo "[$name/$driver] FAILED:"
            # Why it failed first (a server's log after it can be long), then the end of
            # the log. A test that printed nothing must not end the run here (pipefail,
            # set -e).
            { grep -E '\] FAIL: ' "$log" || true; } | head -5 | sed 's/^/    /'
            { grep -vE '^libbpf|^libxdp' "$log" || echo "(no output)"; } | tail -20 | sed 's/^/    /'
        fi
        rm -f "$log"
    done
done
scripts/lab.sh down
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
