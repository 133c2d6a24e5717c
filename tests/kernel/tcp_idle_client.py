#!/usr/bin/env python3
"""Holds N idle TCP connections to IP:PORT with the kernel's TCP, then closes them.

    tcp_idle_client.py IP PORT N GO_FILE [TIMEOUT [FIRST_PORT]]

Opens N connections, at most 256 handshakes at a time, and prints `open N S` (S: seconds
it took) once every one is established. Then it waits, holding them idle, until GO_FILE
exists; checks that every 100th connection still echoes (an idle connection must find
its buffers again), prints `echo K`, closes all of them (FIN) and prints `closed`.
Every wait is bounded by TIMEOUT seconds (default 120); any failure exits non-zero with
the reason on stderr. With FIRST_PORT, connection i is bound to source port FIRST_PORT+i
(the kernel's own choice slows down a lot as its ephemeral range fills up)."""
import errno
import os
import resource
import select
import socket
import sys
import time

ip, port, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
first_port = int(sys.argv[6]) if len(sys.argv) > 6 else None
if first_port is not None and not (1024 <= first_port and first_port + n <= 65536):
    fail_early = f"source ports {first_port}..{first_port + n - 1} are not within 1024-65535"
    print(f"tcp_idle_client: {fail_early}", file=sys.stderr)
    sys.exit(1)
IN_FLIGHT = 256


def fail(msg):
    print(f"tcp_idle_client: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


want = n + 256
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < want:
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError) as e:
        fail(f"cannot raise the open-file limit to {want}: {e}")

ep = select.epoll()
pending = {}  # fd -> socket, handshake under way
opened = []
start = time.monotonic()
deadline = start + timeout
started = 0
while len(opened) < n:
    if time.monotonic() > deadline:
        fail(f"only {len(opened)} of {n} connections established in {timeout:.0f} s")
    while started < n and len(pending) < IN_FLIGHT:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        if first_port is not None:
            try:
                s.bind(("0.0.0.0", first_port + started))
            except OSError as e:
                fail(f"bind to port {first_port + started}: {e}")
        rc = s.connect_ex((ip, port))
        if rc not in (0, errno.EINPROGRESS):
            fail(f"connect {started}: {os.strerror(rc)}")
        pending[s.fileno()] = s
        ep.register(s.fileno(), select.EPOLLOUT)
        started += 1
    for fd, _ in ep.poll(1.0):
        s = pending.pop(fd)
        ep.unregister(fd)
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            fail(f"connection {len(opened)}: {os.strerror(err)}")
        opened.append(s)
print(f"open {len(opened)} {time.monotonic() - start:.1f}", flush=True)

while not os.path.exists(go):
    if time.monotonic() > deadline + timeout:
        fail("never told to close")
    time.sleep(0.1)

# Every 100th connection, idle until now, echoes a few bytes.
checked = 0
for i in range(0, len(opened), 100):
    s = opened[i]
    s.setblocking(True)
    s.settimeout(10)
    msg = b"idle %d\n" % i
    s.sendall(msg)
    got = b""
    try:
        while len(got) < len(msg):
            d = s.recv(64)
            if not d:
                break
            got += d
    except OSError as e:
        fail(f"connection {i}: no echo: {e}")
    if got != msg:
        fail(f"connection {i}: echoed {got!r}, sent {msg!r}")
    checked += 1
print(f"echo {checked}", flush=True)

for s in opened:
    s.close()
print("closed", flush=True)
