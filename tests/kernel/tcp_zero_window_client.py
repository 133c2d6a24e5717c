#!/usr/bin/env python3
"""A kernel TCP client that stops reading: it sends SIZE bytes to an echo server, reads
nothing for HOLD seconds (its receive window closes and stays closed, and the server
probes it), then reads everything back and checks it byte for byte.

Usage: tcp_zero_window_client.py HOST PORT SIZE HOLD [HOLD...]
One connection per HOLD, all at once. Prints one JSON object per connection:
  hold       seconds it did not read
  state_ok   the kernel still had the connection ESTABLISHED when the hold ended
  buffered   bytes waiting in the kernel's receive queue when it started reading
  resume_ms  from the end of the buffered bytes to the next byte that arrived: how soon
             the server sent again once the window opened
  ok         every byte came back, in order, then EOF
  error      what went wrong, if anything
"""
import json
import socket
import fcntl
import struct
import sys
import termios
import threading
import time

host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
holds = [float(h) for h in sys.argv[4:]]
data = bytes((i % 251) ^ ((i >> 12) & 0xFF) for i in range(size))


def tcp_state(s):
    # struct tcp_info begins with the u8 tcpi_state.
    return s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[0]


def one(hold, out):
    r = {"hold": hold, "ok": False}
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # A small receive buffer (before the SYN, so the window scale fits it): the
        # window closes soon and stays closed.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        s.settimeout(10)
        s.connect((host, port))
        start = time.monotonic()
        s.settimeout(hold + 60)
        sender_err = []

        def send():
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError as e:
                sender_err.append(f"{e} after {time.monotonic() - start:.1f} s")

        t = threading.Thread(target=send, daemon=True)
        t.start()
        time.sleep(hold)
        r["state_ok"] = tcp_state(s) == 1  # TCP_ESTABLISHED
        buffered = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, b"\0\0\0\0"))[0]
        r["buffered"] = buffered
        got = bytearray()
        while len(got) < buffered:
            b = s.recv(buffered - len(got))
            if not b:
                break
            got += b
        t0 = time.monotonic()
        b = s.recv(65536)
        r["resume_ms"] = round((time.monotonic() - t0) * 1000, 3)
        while b:
            got += b
            b = s.recv(65536)
        t.join(10)
        if sender_err:
            r["error"] = "send: " + sender_err[0]
        elif bytes(got) != data:
            r["error"] = f"got {len(got)} bytes, not the {len(data)} sent"
        else:
            r["ok"] = True
        s.close()
    except OSError as e:
        r["error"] = str(e)
    out.append(r)


results = []
threads = [threading.Thread(target=one, args=(h, results)) for h in holds]
for t in threads:
    t.start()
for t in threads:
    t.join()
for r in sorted(results, key=lambda r: r["hold"]):
    print(json.dumps(r))
