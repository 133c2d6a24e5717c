#!/usr/bin/env python3
"""A kernel UDP echo server that keeps datagram boundaries. Exits after SECS idle."""
import socket
import sys

s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(float(sys.argv[3]) if len(sys.argv) > 3 else 30)
try:
    while True:
        d, a = s.recvfrom(65535)
        s.sendto(d, a)
except socket.timeout:
    pass
