#!/usr/bin/env bash
# Fails when code names a layer above its own (docs/architecture.md, "Layers"):
#   wire <- proto <- stack <- runtime <- app <- cli <- main/lib
# with driver, metrics, time and config below them all (they may name each other).
# Every `crate::X` path outside comments counts, not only `use` lines.
set -euo pipefail
cd "$(dirname "$0")/.."

rank() {
    case "$1" in
    time | config | metrics | driver) echo 0 ;;
    wire) echo 1 ;;
    proto) echo 2 ;;
    stack) echo 3 ;;
    runtime) echo 4 ;;
    app) echo 5 ;;
    cli) echo 6 ;;
    main | lib) echo 7 ;;
    *) echo "" ;;
    esac
}

bad=0
checked=0
while IFS= read -r file; do
    rel=${file#src/}
    layer=${rel%%/*}
    layer=${layer%.rs}
    own=$(rank "$layer")
    if [ -z "$own" ]; then
        echo "check-layers: $file is in no known layer ($layer): add it to scripts/check-layers.sh and docs/architecture.md" >&2
        bad=1
        continue
    fi
    checked=$((checked + 1))
    # file:line:crate::name, comment lines left out.
    while IFS=: read -r line name; do
        target=${name#crate::}
        r=$(rank "$target")
        [ -z "$r" ] && continue
        if [ "$r" -gt "$own" ]; then
            echo "check-layers: $file:$line: $layer names crate::$target, a layer above it" >&2
            bad=1
        fi
    done < <(grep -nE 'crate::[a-z_]+' "$file" | grep -vE '^[0-9]+:\s*//' |
        grep -oE '^[0-9]+:|crate::[a-z_]+' | awk '/:$/ {l=$0; next} {print l $0}')
done < <(find src -name '*.rs' | sort)

if [ "$bad" != 0 ]; then
    echo "check-layers: imports must run down the layers only" >&2
    exit 1
fi
echo "check-layers: $checked files, every import runs down the layers"
