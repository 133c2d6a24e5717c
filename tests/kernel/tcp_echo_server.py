#!/usr/bin/env python3
"""A kernel TCP echo server (RFC 862) on IP PORT: one thread, epoll through selectors,
non-blocking sockets, every byte written back in order and the connection closed after
the peer's FIN once its echo is out. The kernel baseline for the connection-rate and
load tests."""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
ls = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((sys.argv[1], int(sys.argv[2])))
ls.listen(4096)
ls.setblocking(False)
sel.register(ls, selectors.EVENT_READ, None)
pending = {}  # socket -> [bytes not yet written back, peer closed]


def close(s):
    sel.unregister(s)
    pending.pop(s, None)
    s.close()


def flush(s):
    st = pending[s]
    if st[0]:
        try:
            n = s.send(st[0])
        except BlockingIOError:
            n = 0
        except OSError:
            close(s)
            return
        st[0] = st[0][n:]
    if not st[0] and st[1]:
        close(s)
        return
    sel.modify(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if st[0] else 0), True)


while True:
    for key, ev in sel.select():
        if key.data is None:
            while True:
                try:
                    c, _ = ls.accept()
                except BlockingIOError:
                    break
                c.setblocking(False)
                c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                pending[c] = [b"", False]
                sel.register(c, selectors.EVENT_READ, True)
            continue
        s = key.fileobj
        if ev & selectors.EVENT_READ and s in pending:
            try:
                d = s.recv(262144)
            except BlockingIOError:
                d = None
            except OSError:
                close(s)
                continue
            if d == b"":
                pending[s][1] = True
            elif d:
                pending[s][0] += d
        if s in pending:
            flush(s)
