#!/usr/bin/env python3
"""Injects malformed IPv6 frames at a MAC address from an AF_PACKET socket: truncated
headers, bad payload lengths, extension-header chains too long to walk and a chain that
ends in a header naming itself, fragments, bad and zero UDP checksums, a bad ICMPv6
checksum, a bad TCP checksum, neighbour solicitations with a hop limit other than 255 and with a zero-length
option, then 300 random IPv6-typed frames. Prints how many crafted frames must be dropped
and how many were sent in all, and the crafted counts by reason as JSON.
Usage: inject6.py IFACE DST_MAC SRC_IP6 DST_IP6"""
import json
import random
import socket
import struct
import sys

iface, dst_mac, src_ip, dst_ip = sys.argv[1:5]
dst = bytes.fromhex(dst_mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src = s.getsockname()[4]
S, D = socket.inet_pton(socket.AF_INET6, src_ip), socket.inet_pton(socket.AF_INET6, dst_ip)
GROUP = bytes.fromhex("ff02" + "00" * 9 + "01ff") + D[13:]  # ff02::1:ffXX:XXXX
GROUP_MAC = b"\x33\x33\xff" + D[13:]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def upper(proto, msg, at, src=S, dst=D, good=True):
    pseudo = src + dst + struct.pack("!I3xB", len(msg), proto)
    m = bytearray(msg)
    m[at:at + 2] = b"\0\0"
    c = csum(pseudo + bytes(m)) or 0xFFFF
    m[at:at + 2] = struct.pack("!H", c if good else c ^ 0x5A5A)
    return bytes(m)


def ipv6(first, payload, hop=64, src=S, dst=D, plen=None):
    n = len(payload) if plen is None else plen
    return struct.pack("!IHBB", 0x60000000, n, first, hop) + src + dst + payload


def eth(payload, to=dst):
    return to + src + b"\x86\xdd" + payload


def udp(payload, good=True):
    u = struct.pack("!HHHH", 40000, 7, 8 + len(payload), 0) + payload
    return upper(17, u, 6, good=good)


def ns(hop=255, opt=None):
    m = struct.pack("!BBHI", 135, 0, 0, 0) + D
    m += opt if opt is not None else b"\x01\x01" + src
    return eth(ipv6(58, upper(58, m, 2, dst=GROUP), hop=hop, dst=GROUP), to=GROUP_MAC)


good = eth(ipv6(17, udp(b"hello")))
crafted = {
    "truncated": [good[:14 + 30]],
    "bad_length": [eth(ipv6(17, udp(b"hello"), plen=300))],
    "bad_version": [good[:14] + bytes([0x40]) + good[15:]],
    "bad_header_length": [eth(ipv6(60, b"".join(struct.pack("!BB6x", 60 if i < 8 else 17, 0) for i in range(9)) + udp(b"x")))],
    "fragment": [eth(ipv6(44, struct.pack("!BBHI", 17, 0, 8, 1) + udp(b"x")))],
    "bad_checksum": [eth(ipv6(17, udp(b"bad", good=False))),
                     eth(ipv6(17, udp(b"zero")[:6] + b"\0\0" + udp(b"zero")[8:])),
                     eth(ipv6(58, upper(58, struct.pack("!BBHHH", 128, 0, 0, 1, 1), 2, good=False))),
                     eth(ipv6(6, upper(6, struct.pack("!HHIIBBHHH", 40000, 7, 1, 0, 0x50, 0x02, 65535, 0, 0), 16, good=False)))],
    "ndp_hop_limit": [ns(hop=64)],
    "malformed": [ns(opt=b"\x01\x00" + b"\0" * 6)],
}
# A header that names itself as the next one: the walk stops at its bound.
loop = struct.pack("!BB6x", 60, 0) * 20
crafted["bad_header_length"].append(eth(ipv6(60, loop)))
frames = [f for fs in crafted.values() for f in fs]
must_drop = len(frames)
rnd = random.Random(11)
for i in range(300):
    body = rnd.randbytes(rnd.randint(0, 1446))
    first = rnd.choice([0, 6, 17, 43, 44, 58, 60, rnd.randint(0, 255)])
    frames.append(eth(ipv6(first, body, hop=rnd.choice([1, 64, 255]))))
for f in frames:
    s.send(f)
print(must_drop, len(frames), json.dumps({k: len(v) for k, v in crafted.items()}))
