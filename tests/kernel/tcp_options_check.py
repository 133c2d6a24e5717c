#!/usr/bin/env python3
"""Connects to HOST PORT, echoes a message and prints the options the kernel's TCP
agreed with the server, from TCP_INFO's tcpi_options: "ts sack wscale" (those present).
Exits 1 if the echo is wrong."""
import socket
import sys

TCPI_OPT_TIMESTAMPS, TCPI_OPT_SACK, TCPI_OPT_WSCALE = 1, 2, 4

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
msg = b"options check\n"
s.sendall(msg)
got = b""
while len(got) < len(msg):
    chunk = s.recv(len(msg) - len(got))
    if not chunk:
        break
    got += chunk
# struct tcp_info: state, ca_state, retransmits, probes, backoff, options (u8 each).
opts = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[5]
s.close()
if got != msg:
    print(f"echo mismatch: {got!r}")
    sys.exit(1)
names = [n for bit, n in ((TCPI_OPT_TIMESTAMPS, "ts"), (TCPI_OPT_SACK, "sack"), (TCPI_OPT_WSCALE, "wscale")) if opts & bit]
print(" ".join(names) or "none")
