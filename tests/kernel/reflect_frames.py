#!/usr/bin/env python3
"""Sends one hand-made request per case to xstack from an AF_PACKET socket in xs-a and
prints every IPv4 frame that came back from xstack's MAC, whole, in hex, one JSON object
per case:  {"case": NAME, "replies": ["0011...", ...]}

Usage: reflect_frames.py IFACE XSTACK_MAC SRC_IP DST_IP
The cases are the requests the XDP fast path (serve --reflect-in-xdp) answers, and the
ones next to them it must leave to the stack: run against serve with and without the
flag, the two outputs must be identical, byte for byte (tests/kernel/reflect_in_xdp.sh).
serve must echo UDP on 7 and answer sockperf on 11111. Replies are collected for 0.2 s
after each case."""
import json
import socket
import struct
import sys
import time

iface, dst_mac, src_ip, dst_ip = sys.argv[1:5]
dst = bytes.fromhex(dst_mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
src = s.getsockname()[4]
ECHO, SOCKPERF = 7, 11111


def fold(t):
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return t


def sum16(b):
    if len(b) % 2:
        b += b"\0"
    return fold(sum(struct.unpack(f"!{len(b) // 2}H", b)))


def csum(b):
    return ~sum16(b) & 0xFFFF


def ipv4(proto, payload, src_addr=src_ip, ttl=64, tos=0, frag=0x4000, options=b""):
    ihl = (20 + len(options)) // 4
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, 20 + len(options) + len(payload), 0x99,
                    frag, ttl, proto, 0, socket.inet_aton(src_addr), socket.inet_aton(dst_ip))
    h += options
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def pseudo(src_addr, length):
    return socket.inet_aton(src_addr) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 17, length)


def udp(dport, payload, sport=40500, src_addr=src_ip, checksum=True, length=None):
    n = 8 + len(payload) if length is None else length
    u = struct.pack("!HHHH", sport, dport, n, 0) + payload
    c = (csum(pseudo(src_addr, n) + u[:n]) or 0xFFFF) if checksum else 0
    return u[:6] + struct.pack("!H", c) + u[8:]


def udp_with_checksum(dport, head, tail, target, sport=40500):
    """A UDP datagram whose payload is head + one 16-bit word + tail, the word chosen so
    that the UDP checksum is `target` (head must be of even length)."""
    def build(word):
        return head + struct.pack("!H", word) + tail
    s0 = sum16(pseudo(src_ip, 8 + len(build(0))) + struct.pack("!HHHH", sport, dport, 8 + len(build(0)), 0) + build(0))
    word = fold((~target & 0xFFFF) + (~s0 & 0xFFFF))
    d = udp(dport, build(word), sport=sport)
    assert struct.unpack("!H", d[6:8])[0] == target, "checksum not reached"
    return d


def icmp_echo(ident, seq, data=b"", checksum=None):
    m = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    c = csum(m) if checksum is None else checksum
    return m[:2] + struct.pack("!H", c) + m[4:]


def sockperf(flags, length, seq=7):
    body = bytes((i * 7) & 0xFF for i in range(length - 14))
    return struct.pack("!QHI", seq, flags, length) + body


def eth(payload, to=None, pad_to=0):
    f = (to or dst) + src + struct.pack("!H", 0x0800) + payload
    return f + b"\0" * max(0, pad_to - len(f))


def bad(d, at):
    """`d` with one byte at `at` flipped (checksums left as they were)."""
    return d[:at] + bytes([d[at] ^ 0x40]) + d[at + 1:]


pattern = bytes(range(256)) * 6
CASES = {
    # Answered in XDP with the flag.
    "icmp-echo": eth(ipv4(1, icmp_echo(0x4242, 1, pattern[:56]))),
    "icmp-echo-odd": eth(ipv4(1, icmp_echo(0x4242, 2, pattern[:37]))),
    # The reply's checksum comes out 0x0000 from RFC 1624 and is written as 0xFFFF.
    "icmp-echo-ffff": eth(ipv4(1, icmp_echo(0x1234, 0xEDCB, b"", checksum=0xF7FF))),
    "icmp-echo-ttl1-tos": eth(ipv4(1, icmp_echo(0x4242, 3, pattern[:20]), ttl=1, tos=0x12)),
    "icmp-echo-big": eth(ipv4(1, icmp_echo(0x4242, 4, pattern[:1472]))),
    "udp-echo": eth(ipv4(17, udp(ECHO, pattern[:100]))),
    "udp-echo-no-checksum": eth(ipv4(17, udp(ECHO, pattern[:100], checksum=False))),
    "udp-echo-odd": eth(ipv4(17, udp(ECHO, pattern[:33]))),
    "udp-echo-padded": eth(ipv4(17, udp(ECHO, b"x")), pad_to=60),
    "udp-echo-max": eth(ipv4(17, udp(ECHO, pattern[:1472]))),
    "sockperf-ping": eth(ipv4(17, udp(SOCKPERF, sockperf(3, 14)))),
    "sockperf-pong-only": eth(ipv4(17, udp(SOCKPERF, sockperf(2, 64)))),
    "sockperf-warmup": eth(ipv4(17, udp(SOCKPERF, sockperf(7, 64)))),
    "sockperf-no-checksum": eth(ipv4(17, udp(SOCKPERF, sockperf(3, 100), checksum=False))),
    # Clearing CLIENT takes the UDP checksum to 0x0000, written as 0xFFFF.
    "sockperf-ffff": eth(ipv4(17, udp_with_checksum(SOCKPERF, sockperf(3, 16)[:14], b"", 0xFFFE))),
    "sockperf-padded": eth(ipv4(17, udp(SOCKPERF, sockperf(3, 14))), pad_to=60),
    # Dropped in XDP, as the stack drops it.
    "sockperf-no-reply": eth(ipv4(17, udp(SOCKPERF, sockperf(1, 64)))),
    # Left to the stack, which answers them.
    "icmp-echo-options": eth(ipv4(1, icmp_echo(0x4242, 5, pattern[:24]), options=b"\x01\x01\x01\x00")),
    "udp-short-length": eth(ipv4(17, udp(ECHO, b"hello") + b"TRAILER!")),
    "udp-closed-port": eth(ipv4(17, udp(9, b"nobody"))),
    # Left to the stack, which answers nothing.
    "icmp-bad-checksum": eth(ipv4(1, bad(icmp_echo(0x4242, 6, pattern[:30]), 20))),
    "udp-bad-checksum": eth(ipv4(17, bad(udp(ECHO, pattern[:30]), 20))),
    "ip-bad-checksum": eth(bad(ipv4(17, udp(ECHO, pattern[:30])), 8)),
    "sockperf-short": eth(ipv4(17, udp(SOCKPERF, sockperf(3, 14)[:10]))),
    "udp-fragment": eth(ipv4(17, udp(ECHO, pattern[:64]), frag=0x2000)),
    "icmp-martian": eth(ipv4(1, icmp_echo(0x4242, 7, pattern[:8]), src_addr="127.0.0.1")),
    "udp-martian": eth(ipv4(17, udp(ECHO, b"martian", src_addr="224.0.0.1"), src_addr="224.0.0.1")),
    "udp-broadcast-source": eth(ipv4(17, udp(ECHO, b"bcast", src_addr="198.18.0.255"), src_addr="198.18.0.255")),
    "udp-own-source": eth(ipv4(17, udp(ECHO, b"own", src_addr=dst_ip), src_addr=dst_ip)),
    "udp-to-broadcast-mac": eth(ipv4(17, udp(ECHO, b"bcast")), to=b"\xff" * 6),
}

s.settimeout(0.05)
for name, frame in CASES.items():
    # Forget anything still arriving from an earlier case.
    try:
        while True:
            s.recv(4096)
    except (socket.timeout, BlockingIOError):
        pass
    s.send(frame)
    replies = []
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        try:
            r, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        # Frames from xstack's MAC, not our own going out; IPv4 only (not its ARP).
        if addr[2] != socket.PACKET_OUTGOING and r[6:12] == dst and r[12:14] == b"\x08\x00":
            replies.append(r.hex())
    print(json.dumps({"case": name, "replies": replies}), flush=True)
