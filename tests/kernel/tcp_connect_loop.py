#!/usr/bin/env python3
"""Connects to IP:PORT again and again for SECS seconds: each connection sends a short
request, reads the echo and closes. Prints 'attempts N ok M p50_ms X p99_ms Y' (the
connect-to-echo times of the successful ones); a failed connection is counted, never
fatal."""
import socket
import sys
import time

ip, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
attempts = ok = 0
times = []
end = time.time() + secs
while time.time() < end:
    attempts += 1
    t0 = time.monotonic()
    try:
        s = socket.create_connection((ip, port), timeout=5)
        s.settimeout(5)
        msg = b"legit %d" % attempts
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(100)
            if not d:
                break
            got += d
        s.close()
        if got == msg:
            ok += 1
            times.append((time.monotonic() - t0) * 1000)
    except OSError:
        pass
    time.sleep(0.005)
times.sort()


def pct(p):
    return times[min(len(times) - 1, int(len(times) * p))] if times else float("nan")


print(f"attempts {attempts} ok {ok} p50_ms {pct(0.5):.2f} p99_ms {pct(0.99):.2f}")
