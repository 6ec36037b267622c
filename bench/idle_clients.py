#!/usr/bin/env python3
"""Open N keep-alive connections to 127.0.0.1:PORT, send one GET on each, read its answer, keep them open.

    idle_clients.py PORT N

Requests go out in batches of 200 (so the balancer's upstream pool stays small and what is left afterwards is
the cost of idle client connections). When every connection has its answer it prints "ready OK FAILED" and
holds the sockets until standard input closes (or 120 s pass), then closes them and exits.
"""
import select
import selectors
import socket
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
BATCH = 200


def answered(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value)
    return False


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    conns, ok, failed = [], 0, 0
    sel = selectors.DefaultSelector()
    for start in range(0, n, BATCH):
        pending = {}
        for _ in range(min(BATCH, n - start)):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(REQUEST)
                s.setblocking(False)
                pending[s] = b""
                sel.register(s, selectors.EVENT_READ)
            except OSError:
                failed += 1
        deadline = time.time() + 10
        while pending and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    del pending[s]
                    failed += 1
                    continue
                pending[s] += data
                if answered(pending[s]):
                    sel.unregister(s)
                    ok += 1 if pending[s].startswith(b"HTTP/1.1 200") else 0
                    failed += 0 if pending[s].startswith(b"HTTP/1.1 200") else 1
                    conns.append(s)
                    del pending[s]
        for s in pending:
            sel.unregister(s)
            s.close()
            failed += 1
    print(f"ready {ok} {failed}", flush=True)
    select.select([sys.stdin], [], [], 120)
    # how many are still open (the balancer may have closed idle ones)
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
