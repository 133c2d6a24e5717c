#!/usr/bin/env python3
"""A scripted HTTP/1.1 server on kernel sockets, for the tests of xstack load --app http
and --app raw: one behaviour per port, a thread per connection. Usage:

    http_server.py IP BASE_PORT

    BASE+0  chunked: 200 with a 3000-byte body in chunks of 1000, 700, 1300
    BASE+1  split:   200 with a 100-byte body and Content-Length, written one byte per
                     send() with TCP_NODELAY (so the client sees it in many segments)
    BASE+2  close:   200 with a 5-byte body; the 5th response on a connection carries
                     Connection: close, and the server closes
    BASE+3  404:     404 Not Found, 9-byte body
    BASE+4  500:     500 Internal Server Error, 5-byte body
    BASE+5  bad:     every 3rd response on a connection has a malformed status line
    BASE+6  silent:  reads requests and never answers
    BASE+7  raw:     answers each "PING\\r\\n" with "+PONG\\r\\n" (a Redis-style ping)
    BASE+9  (UDP) raw: answers every datagram with "+PONG\\r\\n"
    BASE+8  close, again (a run that makes the server close first leaves its 4-tuples in
            the server's TIME_WAIT; the next run, from the same ports, takes another port)

A server that closes (close) does it as nginx does: it half-closes after the response,
reads and discards until the client's FIN, then closes, so that requests the client
pipelined behind the close are not answered with a RST. It listens on BASE+8 last:
ready when that port listens. Counts per port go to stderr
at exit (SIGTERM)."""
import signal
import socket
import sys
import threading

ip, base = sys.argv[1], int(sys.argv[2])
NAMES = ["chunked", "split", "close", "404", "500", "bad", "silent", "raw", "close2"]
served = {n: 0 for n in NAMES}
lock = threading.Lock()


def response(kind, k):
    """The bytes of the k-th (1-based) response on a connection, and whether to close."""
    if kind == "chunked":
        body = b""
        for size in (1000, 700, 1300):
            body += b"%x\r\n" % size + b"c" * size + b"\r\n"
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n", False
    if kind == "split":
        return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"s" * 100, False
    if kind in ("close", "close2"):
        close = k == 5
        hdr = b"Connection: close\r\n" if close else b""
        return b"HTTP/1.1 200 OK\r\n" + hdr + b"Content-Length: 5\r\n\r\nhello", close
    if kind == "404":
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", False
    if kind == "500":
        return b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nerror", False
    if kind == "bad":
        if k % 3 == 0:
            return b"HTTP/1.1 2x0 Broken\r\nContent-Length: 2\r\n\r\nok", False
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False
    return b"+PONG\r\n", False


def linger(conn):
    """Half-close, then read and discard until the peer's FIN (at most 2 s)."""
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(2.0)
    while conn.recv(65536):
        pass


def serve(conn, kind):
    end = b"PING\r\n" if kind == "raw" else b"\r\n\r\n"
    buf, k = b"", 0
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
            while end in buf:
                _, buf = buf.split(end, 1)
                k += 1
                if kind == "silent":
                    continue
                out, close = response(kind, k)
                if kind == "split":
                    for i in range(len(out)):
                        conn.send(out[i:i + 1])
                else:
                    conn.sendall(out)
                with lock:
                    served[kind] += 1
                if close:
                    linger(conn)
                    return
    except OSError:
        pass
    finally:
        conn.close()


def accept(ls, kind):
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, kind), daemon=True).start()


def bye(*_):
    print(" ".join(f"{n}={served[n]}" for n in NAMES), file=sys.stderr, flush=True)
    sys.exit(0)


def udp_pong(port):
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind((ip, port))
    while True:
        _, peer = us.recvfrom(2048)
        us.sendto(b"+PONG\r\n", peer)


signal.signal(signal.SIGTERM, bye)
threading.Thread(target=udp_pong, args=(base + 9,), daemon=True).start()
for i, kind in enumerate(NAMES):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((ip, base + i))
    ls.listen(1024)
    threading.Thread(target=accept, args=(ls, kind), daemon=True).start()
while True:
    signal.pause()
