#!/usr/bin/env bash
# bench/floor/build.sh DIR: builds the floor programs (README in docs/floor.md) into DIR:
#   xdp_reflect.bpf.o  xdp_pass.bpf.o  xsk_redirect.bpf.o   (clang -target bpf)
#   afxdp_reflect  afxdp_client                             (gcc, against libbpf)
# with -Wall -Werror. Needs clang, gcc and libbpf-dev (scripts/setup.sh installs them).
set -euo pipefail
[ $# = 1 ] || { echo "usage: bench/floor/build.sh DIR" >&2; exit 2; }
out=$1
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
# Debian keeps <asm/types.h> under the multiarch directory, which -target bpf does not
# search (as in build.rs).
inc=()
multiarch=/usr/include/$(gcc -dumpmachine)
[ -d "$multiarch" ] && inc=(-idirafter "$multiarch")
for p in xdp_reflect xdp_pass xsk_redirect; do
    clang -target bpf -O2 -g -Wall -Werror "${inc[@]}" -c "$src/$p.bpf.c" -o "$out/$p.bpf.o"
done
for p in afxdp_reflect afxdp_client; do
    gcc -O2 -Wall -Werror -o "$out/$p" "$src/$p.c" -lbpf
done
