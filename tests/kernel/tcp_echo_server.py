#!/usr/bin/env python3
"""A kernel TCP echo server (RFC 862) on IP PORT, a thread per connection: the baseline
for xstack's connection rate."""
import socket
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                break
            self.request.sendall(d)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


Server((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
