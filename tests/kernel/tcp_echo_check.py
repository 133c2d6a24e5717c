#!/usr/bin/env python3
"""TCP echo against IP:PORT with the kernel's TCP: N concurrent connections each sending
SIZE random bytes and reading them back byte-exact (a half-close after sending, so the
server's FIN comes after the last echoed byte), then SEQ sequential
connect/request/close cycles. Prints a summary; exits non-zero on any mismatch."""
import os
import socket
import sys
import threading
import time

ip, port, n, size, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
errors = []


def one(i):
    try:
        data = os.urandom(size)
        # Generous: slow recovery under loss is a known gap (no reassembly yet), not a hang.
        s = socket.create_connection((ip, port), timeout=60)
        got = bytearray()

        def reader():
            while True:
                d = s.recv(65536)
                if not d:
                    break
                got.extend(d)

        th = threading.Thread(target=reader)
        th.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        th.join(timeout=90)
        s.close()
        if bytes(got) != data:
            errors.append(f"connection {i}: {len(got)} of {len(data)} bytes back, {'equal prefix' if data.startswith(bytes(got)) else 'different'}")
    except Exception as e:  # noqa: BLE001 - report every failure
        errors.append(f"connection {i}: {e!r}")


t0 = time.time()
threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=60)
t1 = time.time()
for i in range(seq):
    try:
        # Under the loss tests' random loss a handshake or a request can take a few
        # timeouts in a row (1, 2, 4 s, as RFC 6298 backs off): correct, only slow.
        s = socket.create_connection((ip, port), timeout=30)
        msg = b"request %d" % i
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(100)
            if not d:
                break
            got += d
        s.close()
        if got != msg:
            errors.append(f"cycle {i}: got {got!r}")
    except Exception as e:  # noqa: BLE001
        errors.append(f"cycle {i}: {e!r}")
t2 = time.time()
for e in errors[:5]:
    print(e, file=sys.stderr)
print(f"{n} concurrent x {size} B echoed in {t1 - t0:.2f} s; {seq} sequential connect/request/close "
      f"in {t2 - t1:.2f} s ({seq / (t2 - t1):.0f}/s); {len(errors)} errors")
sys.exit(1 if errors else 0)
