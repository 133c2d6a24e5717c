#!/usr/bin/env python3
"""Sends hand-made frames to xstack from an AF_PACKET socket in xs-a and reports what
came back from xstack's MAC, one JSON object per case:
  {"case": NAME, "sent": N, "replies": [{"proto": "tcp", "flags": "RA", ...}, ...]}

Usage: crafted.py IFACE XSTACK_MAC SRC_IP DST_IP CASE...
Every frame goes to DST_IP (xstack's address in the lab); some cases forge the source
address. Replies are collected for 0.3 s after each case."""
import json
import socket
import struct
import sys
import time

iface, dst_mac, src_ip, dst_ip = sys.argv[1:5]
cases = sys.argv[5:]
dst = bytes.fromhex(dst_mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((iface, 0))
src = s.getsockname()[4]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def ipv4(proto, payload, src_addr=src_ip, trailer=b""):
    """An IPv4 packet; `trailer` is extra payload the upper layer does not count."""
    body = payload + trailer
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 0x99, 0x4000, 64, proto, 0,
                    socket.inet_aton(src_addr), socket.inet_aton(dst_ip))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + body


def pseudo(src_addr, proto, length):
    return socket.inet_aton(src_addr) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, proto, length)


def udp(sport, dport, payload, src_addr=src_ip, length=None):
    """A UDP datagram whose length field says `length` (default: the real length); the
    checksum covers what the length field says."""
    n = 8 + len(payload) if length is None else length
    u = struct.pack("!HHHH", sport, dport, n, 0) + payload
    c = csum(pseudo(src_addr, 17, n) + u[:n]) or 0xFFFF
    return u[:6] + struct.pack("!H", c) + u[8:]


def tcp(sport, dport, seq, ack, flags, payload=b"", src_addr=src_ip):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    c = csum(pseudo(src_addr, 6, len(t)) + t)
    return t[:16] + struct.pack("!H", c) + t[18:]


def icmp_echo(seq):
    m = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq) + b"crafted!" * 4
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def eth(payload, ethertype=0x0800):
    return dst + src + struct.pack("!H", ethertype) + payload


FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def case_frames(name):
    if name == "listen-no-flags":
        # RFC 9293 §3.10.7.2: none of SYN, RST, ACK to a listening port (7).
        return [eth(ipv4(6, tcp(40100 + i, 7, 1000, 0, f, b"data")))
                for i, f in enumerate([0, FIN, PSH, FIN | PSH | URG])]
    if name == "udp-short-length":
        # RFC 768: the UDP length (13) is shorter than the IP payload (13 + 8).
        return [eth(ipv4(17, udp(40200, 7, b"hello"), trailer=b"TRAILER!"))]
    if name == "udp-long-length":
        # A UDP length (23) past the end of the IP payload (13).
        return [eth(ipv4(17, udp(40201, 7, b"hello", length=23)))]
    if name.startswith("martian:"):
        # RFC 1122 §3.2.1.3: from a source no host sends from, to xstack's address: a
        # ping, UDP to the echo port and to a closed one, a SYN to the listening port
        # and to a closed one.
        m = name.split(":", 1)[1]
        return [eth(ipv4(1, icmp_echo(1), src_addr=m)),
                eth(ipv4(17, udp(40300, 7, b"martian", src_addr=m), src_addr=m)),
                eth(ipv4(17, udp(40301, 9, b"martian", src_addr=m), src_addr=m)),
                eth(ipv4(6, tcp(40302, 7, 1000, 0, SYN, src_addr=m), src_addr=m)),
                eth(ipv4(6, tcp(40303, 9, 1000, 0, SYN, src_addr=m), src_addr=m))]
    if name == "vlan":
        # 802.1Q-tagged (VLAN 5) and 802.1ad/802.1Q double-tagged frames for xstack's MAC
        # and address: a ping, UDP echo and a SYN to the listening port, each on a LAN
        # xstack is not on.
        q = struct.pack("!HH", 0x8100, 5)
        qinq = struct.pack("!HHHH", 0x88A8, 100, 0x8100, 5)
        return [dst + src + tag + struct.pack("!H", 0x0800) + pkt
                for tag in (q, qinq)
                for pkt in (ipv4(1, icmp_echo(2)), ipv4(17, udp(40400, 7, b"tagged")),
                            ipv4(6, tcp(40401, 7, 1000, 0, SYN)))]
    raise SystemExit(f"crafted.py: no case {name!r}")


def summary(f):
    if len(f) < 34 or f[12:14] != b"\x08\x00":
        return {"ethertype": f[12:14].hex()}
    ihl = (f[14] & 0xF) * 4
    proto, total = f[23], struct.unpack("!H", f[16:18])[0]
    ip_dst = socket.inet_ntoa(f[30:34])
    body = f[14 + ihl:14 + total]
    if proto == 6:
        names = "FSRPAU"
        fl = "".join(c for i, c in enumerate(names) if body[13] & (1 << i))
        return {"proto": "tcp", "dst": ip_dst, "flags": fl, "sport": struct.unpack("!H", body[0:2])[0]}
    if proto == 17:
        return {"proto": "udp", "dst": ip_dst, "ip_len": total, "udp_len": struct.unpack("!H", body[4:6])[0],
                "payload": body[8:].decode("latin-1")}
    if proto == 1:
        return {"proto": "icmp", "dst": ip_dst, "type": body[0], "code": body[1]}
    return {"proto": proto, "dst": ip_dst}


s.settimeout(0.05)
for name in cases:
    frames = case_frames(name)
    # Forget anything still arriving from an earlier case.
    try:
        while True:
            s.recv(4096)
    except (socket.timeout, BlockingIOError):
        pass
    for f in frames:
        s.send(f)
    replies = []
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        try:
            r, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        # Frames xstack sent (not our own, which the socket sees as outgoing).
        if addr[2] != socket.PACKET_OUTGOING and r[6:12] == dst and r[12:14] != b"\x08\x06":
            replies.append(summary(r))
    print(json.dumps({"case": name, "sent": len(frames), "replies": replies}), flush=True)
