#!/usr/bin/env python3
"""Send exactly N keep-alive GETs to 127.0.0.1:PORT over 10 connections, one at a time, each read to its end.

    keepalive_client.py PORT N

With BROWSER_HEAD=1 in the environment each request carries the dozen header lines a browser sends (what
`$http_*` variables in a log format read).
"""
import os
import socket
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
if os.environ.get("BROWSER_HEAD"):
    REQUEST = (b"GET /products/list?page=2&sort=price HTTP/1.1\r\nHost: bench\r\n"
               b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
               b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
               b"Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
               b"Referer: https://shop.example.com/products\r\nConnection: keep-alive\r\n"
               b"Cookie: session=4f1c2a9e8b7d6c5a; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\n"
               b"Sec-Fetch-Dest: document\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\n"
               b"Priority: u=0, i\r\n\r\n")


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
