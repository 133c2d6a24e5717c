#!/usr/bin/env python3
"""Sends N datagrams of random sizes (1..1472 bytes over IPv4, 1..1452 over IPv6) to
IP:PORT one at a time and checks every reply byte for byte. A datagram lost on the way is sent again (up to 3 times) and
reported; a wrong reply fails the test. Bounded: 0.5 s per try."""
import random
import socket
import sys
import time

ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
v6 = ":" in ip
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
most = 1452 if v6 else 1472
s.settimeout(0.5)
rnd = random.Random(seed)
bad = retries = 0
t0 = time.time()
for i in range(n):
    data = rnd.randbytes(rnd.randint(1, most))
    got = None
    for _ in range(3):
        s.sendto(data, (ip, port))
        try:
            got, _ = s.recvfrom(2048)
            break
        except socket.timeout:
            retries += 1
    if got != data:
        bad += 1
        if bad <= 3:
            print(f"datagram {i} ({len(data)} B): reply {'missing' if got is None else f'{len(got)} B, different'}", file=sys.stderr)
dt = time.time() - t0
print(f"{n} datagrams, {n - bad} echoed byte-exact, {bad} wrong or missing, {retries} resent, {dt:.2f} s")
sys.exit(1 if bad else 0)
