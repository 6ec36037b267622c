#!/usr/bin/env python3
"""Send exactly N keep-alive GETs to 127.0.0.1:PORT over 10 connections, one at a time, each read to its end.

    keepalive_client.py PORT N
"""
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def one(sock):
    sock.sendall(REQUEST)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before the response ended")
        buf += chunk
        head, sep, body = buf.partition(b"\r\n\r\n")
        if sep:
            lengths = [line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
            if lengths and len(body) >= int(lengths[0].split(b":")[1]):
                return


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
    for i in range(n):
        one(socks[i % len(socks)])
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
