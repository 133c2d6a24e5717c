#!/usr/bin/env bash
# Each way serve can be started wrong gives one clear sentence and a non-zero exit:
# an unknown interface, an address the kernel already has (packet mode), no privileges.
LAB_B_KERNEL=1
export LAB_B_KERNEL
source "$(dirname "$0")/lib.sh"
lab_up
expect() { # message-regex command...
    local want=$1 out rc
    shift
    set +e
    out=$("$@" 2>&1 </dev/null)
    rc=$?
    set -e
    [ "$rc" != 0 ] || die "exit status 0 for: $*"
    echo "$out" | grep -v -E '^lib(bpf|xdp)' | grep -qE "$want" || die "no '$want' in: $out"
    pass "$(echo "$out" | grep -E "$want" | head -1)"
}
expect "no network interface named 'nosuch0'" \
    ip netns exec xs-b "$BIN" serve --iface nosuch0 --ip "$B/24" --driver "$DRIVER"
if [ "$DRIVER" = packet ]; then
    expect "$B is configured on the kernel's interface xsb0.*ip addr del" \
        ip netns exec xs-b "$BIN" serve --iface xsb0 --ip "$B/24" --driver packet
fi
cp "$BIN" "$WORK/xstack"
chmod 755 "$WORK" "$WORK/xstack"
expect "permission denied — run as root or grant CAP_NET_ADMIN" \
    ip netns exec xs-b setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$WORK/xstack" serve --iface xsb0 --ip 198.18.0.9/24 --driver "$DRIVER"
