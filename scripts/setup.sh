#!/usr/bin/env bash
# Installs what xstack needs to build and test, then builds the release binary.
# Idempotent and silent when everything is already there. Debian/Ubuntu packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: libxdp/libbpf are built from source by xsk-rs.
# Tests: the kernel peers and the tools that drive them.
# Fuzzing: libfuzzer-sys builds libFuzzer from its C++ source (g++).
# Benches: the floor programs of bench/floor build against the system's libbpf (libbpf-dev).
PACKAGES=(clang m4 pkg-config libelf-dev zlib1g-dev libpcap-dev libbpf-dev
          iproute2 ethtool sockperf socat iputils-ping netcat-openbsd python3
          tcpdump hping3 nftables nginx g++)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: missing packages: ${missing[*]} — run as root (sudo) to install them" >&2
        exit 1
    fi
    echo "setup.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python packages the tests read logs and manifests with (the hdrhistogram package, PyYAML),
# in the project's own folder: no change to the system's Python, and it works where that
# Python is externally managed. scripts/test.sh puts the folder on PYTHONPATH.
PYDEPS=.cache/python
need_py=()
PYTHONPATH=$PYDEPS python3 -c 'import hdrh' 2>/dev/null || need_py+=(hdrhistogram)
PYTHONPATH=$PYDEPS python3 -c 'import yaml' 2>/dev/null || need_py+=(pyyaml)
if [ ${#need_py[@]} -gt 0 ]; then
    if ! python3 -m pip --version >/dev/null 2>&1; then
        [ "$(id -u)" = 0 ] || { echo "setup.sh: python3 has no pip — run as root (sudo) to install python3-pip" >&2; exit 1; }
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
    fi
    echo "setup.sh: installing ${need_py[*]} into $PYDEPS" >&2
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --target "$PYDEPS" "${need_py[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    sudo_home=""
    if [ -n "${SUDO_USER:-}" ]; then sudo_home=$(getent passwd "$SUDO_USER" | cut -d: -f6); fi
    for c in "$HOME/.cargo/bin/cargo" "${sudo_home:-/nonexistent}/.cargo/bin/cargo" /root/.cargo/bin/cargo; do
        if [ -x "$c" ]; then PATH="$(dirname "$c"):$PATH"; export PATH; break; fi
    done
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup.sh: no Rust toolchain (cargo) found — install one with rustup (https://rustup.rs) and run this again" >&2
    exit 1
fi

# scripts/fuzz.sh: cargo-fuzz, from crates.io (it runs on the stable toolchain there).
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "setup.sh: installing cargo-fuzz" >&2
    cargo install --locked --quiet cargo-fuzz
fi

cargo build --release --quiet
