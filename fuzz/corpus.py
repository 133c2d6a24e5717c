#!/usr/bin/env python3
"""Splits a pcap of a lab run (fuzz/capture.sh) into the seed corpus of each fuzz target,
fuzz/corpus/<target>/, and adds the seeds no capture has (HTTP responses, segments on the
stack target's prefix connections). Frames are kept per kind (a signature of the headers
that matter to the target) a few at a time, so the corpus stays small and varied.

Usage: corpus.py LAB.pcap OUT_DIR"""
import hashlib
import os
import struct
import sys

# The stack target's input format (fuzz/src/stack.rs).
FIX_ETH, FIX_SUMS, REBASE, END_BATCH, SEGMENT = 0x08, 0x10, 0x20, 0x40, 0x80
TIME_STEPS_NS = [0, 10_000, 1_000_000, 30_000_000, 250_000_000, 1_000_000_000,
                 7_000_000_000, 65_000_000_000]
OURS4 = bytes([198, 18, 0, 2])
OURS6 = bytes.fromhex("20010002000000000000000000000002")
# What is kept: one frame of each kind, at most MAX_PER_TARGET per wire target; stack
# seeds of at most MAX_STACK_SEED bytes, MAX_CONVERSATIONS TCP conversations (one per
# kind of opening) and MAX_MIXED runs of the other frames. About 300 KB in all.
PER_KIND = 1
MAX_PER_TARGET = 32
MAX_STACK_SEED = 5_000
MAX_CONVERSATIONS = 20
MAX_MIXED = 12


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B23C4D, 0xA1B2C3D4):
        end = "<"
    else:
        end = ">"
        magic = struct.unpack(">I", data[:4])[0]
    scale = 1 if magic == 0xA1B23C4D else 1000
    at = 24
    while at + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(end + "IIII", data[at:at + 16])
        at += 16
        yield sec * 1_000_000_000 + frac * scale, data[at:at + incl]
        at += incl


def parse(frame):
    """(ethertype, l3 offset, proto, l4 offset, l4 end, src, dst) of a frame, or None."""
    if len(frame) < 14:
        return None
    et = struct.unpack("!H", frame[12:14])[0]
    if et == 0x0800 and len(frame) >= 34 and frame[14] >> 4 == 4:
        hl = (frame[14] & 15) * 4
        total = struct.unpack("!H", frame[16:18])[0]
        return et, 14, frame[23], 14 + hl, 14 + total, frame[26:30], frame[30:34]
    if et == 0x86DD and len(frame) >= 54:
        plen = struct.unpack("!H", frame[18:20])[0]
        nh, at = frame[20], 54
        while nh in (0, 43, 60) and at + 2 <= len(frame):
            nh, at = frame[at], at + (frame[at + 1] + 1) * 8
        return et, 14, nh, at, 54 + plen, frame[22:38], frame[38:54]
    return et, 14, None, None, None, None, None


def from_xstack(frame, p):
    if p is None:
        return False
    et, _, _, _, _, src, _ = p
    if et == 0x0806 and len(frame) >= 42:
        return frame[28:32] == OURS4
    return src in (OURS4, OURS6)


def signature(frame, p, outbound):
    et, _, proto, l4, end, _, _ = p
    size = min(len(frame) // 256, 6)
    sig = [et, outbound, size]
    if proto is not None and l4 is not None and l4 + 4 <= len(frame):
        sig.append(proto)
        if proto in (1, 58):
            sig += [frame[l4], frame[l4 + 1]]
        elif proto == 6 and l4 + 20 <= len(frame):
            sig.append(frame[l4 + 13])
            opts = frame[l4 + 20:l4 + (frame[l4 + 12] >> 4) * 4]
            sig.append(bytes(k for k in opts if k in (2, 3, 4, 5, 8)))
        elif proto == 17:
            ports = struct.unpack("!HH", frame[l4:l4 + 4])
            sig.append(tuple(x if x in (7, 11111) else 0 for x in ports))
    return tuple(sig)


class Corpus:
    def __init__(self, out):
        self.out = out
        self.seen = {}

    def add(self, target, data, name=""):
        d = os.path.join(self.out, target)
        os.makedirs(d, exist_ok=True)
        h = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(d, (name + "-" if name else "") + h), "wb") as f:
            f.write(data)

    def add_kind(self, target, sig, data):
        n = self.seen.get((target, sig), 0)
        total = self.seen.get(target, 0)
        if n < PER_KIND and total < MAX_PER_TARGET:
            self.seen[(target, sig)] = n + 1
            self.seen[target] = total + 1
            self.add(target, data, "lab")


def record(ctl, body):
    return bytes([ctl]) + struct.pack("<H", len(body)) + body


def time_bits(dt_ns):
    i = 0
    for k, step in enumerate(TIME_STEPS_NS):
        if dt_ns >= step:
            i = k
    return i


def relative_tcp(frame, p, peer_isn, our_iss):
    """The frame with SEG.SEQ and SEG.ACK made relative to the two ISNs (REBASE)."""
    _, _, _, l4, _, _, _ = p
    f = bytearray(frame)
    seq, ack = struct.unpack("!II", f[l4 + 4:l4 + 12])
    f[l4 + 4:l4 + 8] = struct.pack("!I", (seq - peer_isn) & 0xFFFFFFFF)
    if our_iss is not None:
        f[l4 + 8:l4 + 12] = struct.pack("!I", (ack - our_iss) & 0xFFFFFFFF)
    return bytes(f)


def stack_seeds(frames, c):
    """Seeds of the stack target: one per TCP conversation (the peer's frames, relative
    sequence numbers), the rest of the peer's frames in order in groups."""
    flows, isns, others = {}, {}, []
    for ts, frame, p, outbound in frames:
        et, _, proto, l4, _, src, dst = p
        if proto == 6 and l4 is not None and l4 + 20 <= len(frame):
            sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
            flags = frame[l4 + 13]
            seq = struct.unpack("!I", frame[l4 + 4:l4 + 8])[0]
            if outbound:
                key = (dst, dport, src, sport)
                if flags & 0x12 == 0x12:
                    isns.setdefault(key, {})["iss"] = seq
                continue
            key = (src, sport, dst, dport)
            if flags & 0x12 == 0x02:
                # A new SYN starts a new conversation on the tuple.
                flows.setdefault(key, []).append([])
                isns[key] = {"peer": seq}
            if key in flows and flows[key]:
                flows[key][-1].append((ts, frame, p))
            continue
        if not outbound:
            others.append((ts, frame))
    kept, kinds = 0, set()
    for key, convs in flows.items():
        for conv in convs:
            # One conversation per kind: family, service port, and the flags and
            # payload sizes of its first frames.
            kind = (len(key[0]), key[3], tuple(
                (f[p[3] + 13], min(len(f) - p[3] - 20, 1)) for _, f, p in conv[:6]))
            if kind in kinds or kept >= MAX_CONVERSATIONS:
                continue
            kinds.add(kind)
            kept += 1
            out, last = b"", None
            isn = isns.get(key, {})
            for ts, frame, p in conv:
                dt = 0 if last is None else ts - last
                last = ts
                body = relative_tcp(frame, p, isn.get("peer", 0), isn.get("iss"))
                r = record(FIX_ETH | FIX_SUMS | REBASE | END_BATCH | time_bits(dt), body)
                if len(out) + len(r) > MAX_STACK_SEED:
                    break
                out += r
            if out:
                c.add("stack", out, "lab-tcp")
    # The other frames in runs, spread over the capture (pings, ARP, NDP, UDP,
    # sockperf, closed ports, the malformed ones).
    runs, out, last = [], b"", None
    for ts, frame in others:
        dt = 0 if last is None else ts - last
        last = ts
        r = record(FIX_ETH | END_BATCH | time_bits(dt), frame[:1514])
        if len(out) + len(r) > MAX_STACK_SEED // 2:
            runs.append(out)
            out = b""
        out += r
    if out:
        runs.append(out)
    step = max(1, len(runs) // MAX_MIXED)
    for run in runs[::step][:MAX_MIXED]:
        c.add("stack", run, "lab-mixed")


def segment(conn, flags, seq_off, ack_off, window, payload=b"", options=b""):
    body = struct.pack("<BBhhHB", conn, flags, seq_off, ack_off, window, len(options))
    return record(SEGMENT | END_BATCH, body + options + payload)


def synthetic(c):
    """Seeds no capture has."""
    ACK, PSH, FIN, RST, SYN = 0x10, 0x08, 0x01, 0x04, 0x02
    s = [
        # Data on each prefix connection, its echo acknowledged, then a FIN each way.
        segment(0, ACK | PSH, 0, 0, 65535, b"hello, echo")
        + record(3, b"") + segment(0, ACK, 0, 0, 65535)
        + segment(0, ACK | FIN, 0, 0, 65535) + record(5, b"") + segment(0, ACK, 0, 0, 65535),
        segment(1, ACK | PSH, 0, 0, 8192, b"x" * 1000) + segment(1, ACK | PSH, 1000, 0, 8192, b"y" * 1000)
        + record(4, b"") + segment(1, ACK, 0, 0, 0) + record(6, b"") + segment(1, ACK, 0, 0, 4096),
        segment(2, ACK | PSH, 0, 0, 65535, b"over IPv6") + segment(2, RST, 0, 0, 0),
        # Out of order, then the hole filled.
        segment(0, ACK, 500, 0, 65535, b"b" * 500) + segment(0, ACK, 0, 0, 65535, b"a" * 500),
        # A SYN on an established connection, a RST out of the window, an old ACK.
        segment(1, SYN, 0, 0, 65535) + segment(1, RST, 3000, 0, 0) + segment(1, ACK, 0, -2000, 65535),
        # A zero window held for minutes, then opened.
        segment(0, ACK | PSH, 0, 0, 0, b"z" * 1400) + record(7, b"") + record(7, b"")
        + segment(0, ACK, 0, 0, 65535),
        # Options: timestamps and SACK blocks.
        segment(0, ACK, 0, 0, 65535, b"", bytes([1, 1, 8, 10]) + b"\0\0\0\x05\0\0\0\x01")
        + segment(0, ACK, 0, 0, 65535, b"", bytes([1, 1, 5, 10]) + b"\0\0\0\x10\0\0\0\x20"),
    ]
    for i, seed in enumerate(s):
        c.add("stack", seed, f"syn{i}")
    crlf = b"\r\n"
    http = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
        b"HTTP/1.0 200 OK\r\n\r\nuntil the close",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 304 Not Modified\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 12300 + crlf + crlf,
    ]
    for i, body in enumerate(http):
        # mode 0: HTTP GET; reads of 1, 7 and 100 bytes.
        c.add("app_http", bytes([0, 3]) + struct.pack("<HHH", 0, 6, 99) + body + body, f"http{i}")
    c.add("app_http", bytes([1, 1]) + struct.pack("<H", 4) + http[0], "head")
    c.add("app_http", bytes([2]) + struct.pack("<H", 4) + bytes([2]) + struct.pack("<HH", 0, 2)
          + b"PONG" * 5, "raw-bytes")
    c.add("app_http", bytes([3, 1]) + b"\r\n" + bytes([1]) + struct.pack("<H", 2)
          + b"+PONG\r\n" * 4, "raw-delim")


def main():
    pcap, out = sys.argv[1], sys.argv[2]
    c = Corpus(out)
    frames = []
    for ts, frame in read_pcap(pcap):
        p = parse(frame)
        if p is None:
            continue
        frames.append((ts, frame, p, from_xstack(frame, p)))
    for ts, frame, p, outbound in frames:
        et, _, proto, l4, _, _, _ = p
        sig = signature(frame, p, outbound)
        if et == 0x0806 or et not in (0x0800, 0x86DD):
            c.add_kind("wire_ethernet_arp", sig, frame)
        if et == 0x0800:
            c.add_kind("wire_ipv4_icmp", sig, frame)
        if et == 0x86DD:
            c.add_kind("wire_ipv6_icmpv6_ndp", sig, frame)
        if proto == 6:
            c.add_kind("wire_tcp", sig, frame)
        if proto == 17:
            c.add_kind("wire_udp_sockperf", sig, frame)
        if et in (0x0800, 0x86DD) and not outbound:
            c.add_kind("wire_checksum", (sig[0], sig[3] if len(sig) > 3 else None), frame[14:])
    stack_seeds(frames, c)
    synthetic(c)
    for t in sorted(os.listdir(out)):
        files = os.listdir(os.path.join(out, t))
        size = sum(os.path.getsize(os.path.join(out, t, f)) for f in files)
        print(f"corpus.py: {t}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
