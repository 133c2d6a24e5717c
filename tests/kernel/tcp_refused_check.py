#!/usr/bin/env python3
"""Connects to IP on TCP ports 7, 80 and 5001, where nothing listens: every connect()
must be refused (RST), not time out. Prints how long each refusal took; exits non-zero
otherwise. Usage: tcp_refused_check.py IP"""
import socket
import sys
import time

for port in (7, 80, 5001):
    s = socket.socket(); s.settimeout(2)
    t = time.time()
    try:
        s.connect((sys.argv[1], port))
        sys.exit(f"port {port}: connected")
    except ConnectionRefusedError:
        print(f"port {port}: refused in {(time.time() - t) * 1e6:.0f} us")
    except socket.timeout:
        sys.exit(f"port {port}: timed out instead of refused")
