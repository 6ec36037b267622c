#!/usr/bin/env python3
"""Hold slow and idle client connections against 127.0.0.1:PORT while healthy clients are measured.

    slow_clients.py PORT SLOW IDLE [INTERVAL]

SLOW connections trickle a request head one byte at a time, each connection sending its next byte every INTERVAL
seconds (default 1.0; the connections are spread evenly over the interval, so bytes arrive as a steady stream,
not in bursts). The head never completes within a run (it is long, and the balancer's client_header_timeout, 60 s
by default for both nginx and maitred, is longer than a run). IDLE connections connect and send nothing.
Prints "ready SLOW_OPEN IDLE_OPEN" once everything is connected, keeps trickling until standard input closes (or
300 s pass), then closes every socket and prints "done BYTES_SENT CLOSED_BY_PEER".
"""
import select
import socket
import sys
import time

HEAD = b"GET /" + b"a" * 4000 + b" HTTP/1.1\r\nHost: bench\r\nX-Slow: " + b"b" * 4000 + b"\r\n\r\n"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setblocking(False)
    return s


def main():
    port, slow_n, idle_n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    slow, idle = [], []
    for _ in range(slow_n):
        try:
            slow.append([connect(port), 0])
        except OSError:
            pass
    for _ in range(idle_n):
        try:
            idle.append(connect(port))
        except OSError:
            pass
    print(f"ready {len(slow)} {len(idle)}", flush=True)

    sent = closed = 0
    start = time.monotonic()
    deadline = start + 300
    tick = interval / max(len(slow), 1)
    i = 0
    next_send = start
    while time.monotonic() < deadline:
        # Stop when the driver closes our standard input.
        r, _, _ = select.select([sys.stdin], [], [], 0)
        if r and not sys.stdin.readline():
            break
        now = time.monotonic()
        if not slow:
            time.sleep(0.05)
            continue
        # Send the bytes that are due, then sleep until the next one (at most 10 ms at a time).
        while next_send <= now:
            entry = slow[i % len(slow)]
            sock, pos = entry
            if sock is not None and pos < len(HEAD):
                try:
                    sock.send(HEAD[pos:pos + 1])
                    entry[1] = pos + 1
                    sent += 1
                except OSError:
                    sock.close()
                    entry[0] = None
                    closed += 1
            i += 1
            next_send += tick
        time.sleep(min(0.01, max(0.0, next_send - time.monotonic())))
    for sock, _ in slow:
        if sock is not None:
            sock.close()
    for sock in idle:
        sock.close()
    print(f"done {sent} {closed}", flush=True)


if __name__ == "__main__":
    main()
