#!/usr/bin/env python3
"""Sends COUNT datagrams of each SIZE to IP:PORT one at a time and checks every reply
byte for byte; the kernel fragments what is larger than the path MTU and reassembles
the replies. A datagram lost on the way is sent again (up to 3 times) and reported; a
wrong reply fails the test. Bounded: 1 s per try. Usage: udp_sizes.py IP PORT COUNT SIZE..."""
import random
import socket
import sys
import time

ip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sizes = [int(a) for a in sys.argv[4:]]
v6 = ":" in ip
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.settimeout(1.0)
rnd = random.Random(7)
bad = retries = 0
t0 = time.time()
for size in sizes:
    for i in range(count):
        data = rnd.randbytes(size)
        got = None
        for _ in range(3):
            s.sendto(data, (ip, port))
            try:
                while True:
                    got, _ = s.recvfrom(65536)
                    if got == data:
                        break
                    # A late reply to an earlier try of another datagram: keep reading.
                    print(f"{size} B #{i}: a reply of {len(got)} B that is not this one's", file=sys.stderr)
                break
            except socket.timeout:
                got = None
                retries += 1
        if got != data:
            bad += 1
            if bad <= 3:
                print(f"{size} B #{i}: reply {'missing' if got is None else f'{len(got)} B, different'}",
                      file=sys.stderr)
dt = time.time() - t0
n = count * len(sizes)
print(f"{n} datagrams of {'/'.join(map(str, sizes))} B, {n - bad} echoed byte-exact, "
      f"{bad} wrong or missing, {retries} resent, {dt:.2f} s")
sys.exit(1 if bad else 0)
