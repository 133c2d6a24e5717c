#!/usr/bin/env python3
"""Injects malformed frames at a MAC address from an AF_PACKET socket, and prints how many
it sent that the receiver must drop. Usage: inject.py IFACE DST_MAC SRC_IP DST_IP"""
import random
import socket
import struct
import sys

iface, dst_mac, src_ip, dst_ip = sys.argv[1:5]
dst = bytes.fromhex(dst_mac.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src = s.getsockname()[4]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return ~t & 0xFFFF


def ipv4(proto, payload, options=b"", flags_frag=0x4000, total=None):
    hl = 20 + len(options)
    tl = total if total is not None else hl + len(payload)
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, tl, 0x77, flags_frag, 64, proto, 0,
                    socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + options
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def udp(sport, dport, payload, good=True):
    length = 8 + len(payload)
    pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip) + struct.pack("!BBH", 0, 17, length)
    u = struct.pack("!HHHH", sport, dport, length, 0) + payload
    c = csum(pseudo + u) or 0xFFFF
    if not good:
        c ^= 0x5A5A
    return u[:6] + struct.pack("!H", c) + u[8:]


def eth(ethertype, payload, to=dst):
    return to + src + struct.pack("!H", ethertype) + payload


good = eth(0x0800, ipv4(17, udp(40000, 7, b"hello")))
frames = []
frames.append(good[:14])                                        # Ethernet header, no IPv4 (the kernel refuses shorter)
frames.append(good[:14 + 12])                                   # truncated IPv4 header
bad_ip = bytearray(good); bad_ip[14 + 10] ^= 0xFF; frames.append(bytes(bad_ip))   # IP checksum
frames.append(eth(0x0800, ipv4(17, udp(40000, 7, b"hello", good=False))))         # UDP checksum
frames.append(eth(0x0800, ipv4(17, udp(40000, 7, b"hello"), total=200)))          # total length > frame
frames.append(eth(0x0800, ipv4(17, udp(40000, 7, b"hello"), total=10)))           # total length < header
# Fragments no sender makes (a valid one would be held for reassembly, not dropped):
frames.append(eth(0x0800, ipv4(17, udp(40000, 7, b"frag"), flags_frag=0x2000)))  # MF, 12 bytes: not 8-byte blocks
frames.append(eth(0x0800, ipv4(17, b"tail of a fragment", flags_frag=0x1fff)))    # ends past 65 535 bytes
frames.append(eth(0x88B5, b"\0" * 46))                          # unknown EtherType
frames.append(eth(0x86DD, b"\0" * 46))                          # IPv6
frames.append(eth(0x0806, b"\x00\x01\x08\x00\x06\x04\x00\x01"))  # runt ARP
frames.append(eth(0x0800, ipv4(47, b"\0" * 24)))                # GRE: unknown protocol
bad_ver = bytearray(good); bad_ver[14] = 0x65; frames.append(bytes(bad_ver))      # IP version 6 in IPv4
bad_ihl = bytearray(good); bad_ihl[14] = 0x43; frames.append(bytes(bad_ihl))      # IHL 3
must_drop = len(frames)
# IPv4 options are legal: they must be answered (without options), not dropped.
answered = [eth(0x0800, ipv4(17, udp(40000, 7, b"opts"), options=b"\x01\x01\x01\x00"))]
rnd = random.Random(7)
for i in range(300):
    body = rnd.randbytes(rnd.randint(0, 1486))
    # Half are IPv4-typed so the deeper parsers see garbage too.
    frames.append(eth(0x0800 if i % 2 else rnd.randint(0, 0xFFFF), body))
for f in frames + answered:
    s.send(f)
print(must_drop, len(frames))
