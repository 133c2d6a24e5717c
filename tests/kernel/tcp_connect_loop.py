#!/usr/bin/env python3
"""Connects to IP:PORT again and again for SECS seconds: each connection sends a short
request, reads the echo and closes. Prints 'attempts N ok M'; a failed connection is
counted, never fatal."""
import socket
import sys
import time

ip, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
attempts = ok = 0
end = time.time() + secs
while time.time() < end:
    attempts += 1
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
        ok += got == msg
    except OSError:
        pass
    time.sleep(0.005)
print(f"attempts {attempts} ok {ok}")
