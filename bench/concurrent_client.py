#!/usr/bin/env python3
"""Exactly N keep-alive GETs to 127.0.0.1:PORT over C connections, one request in flight on each.

    concurrent_client.py PORT N C [WARMUP [CALLGRIND_PID]]

WARMUP requests go first; with CALLGRIND_PID, instrumentation of that valgrind process is switched on once the
warm-up is done and off after the N measured requests (`callgrind_control -i on|off`), so the profile holds
exactly N requests served with C clients connected. Exits non-zero on a refused connection, a close, a response
without Content-Length or a status other than 200.
"""
import selectors
import socket
import subprocess
import sys

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def response_end(buf):
    """Length of the first complete response in buf, or None while it is incomplete."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = buf[:head_end].lower()
    if not head.startswith(b"http/1.1 200"):
        raise SystemExit(f"unexpected response: {buf[:80]!r}")
    at = head.find(b"content-length:")
    if at < 0:
        raise SystemExit("response without content-length")
    length = int(head[at + 15:].split(b"\r\n")[0])
    end = head_end + 4 + length
    return end if len(buf) >= end else None


def callgrind(pid, state):
    if pid:
        subprocess.run(["callgrind_control", "-i", state, pid], capture_output=True, check=False)


def main():
    port, n, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    pid = sys.argv[5] if len(sys.argv) > 5 else None
    total = n + warmup
    sel = selectors.DefaultSelector()
    pending = {}
    sent = done = 0
    for _ in range(min(conns, total)):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
        s.sendall(REQUEST)
        sent += 1
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
    if warmup == 0:
        callgrind(pid, "on")
    while done < total:
        events = sel.select(30)
        if not events:
            raise SystemExit("no response for 30 s")
        for key, _ in events:
            s = key.fileobj
            data = s.recv(65536)
            if not data:
                raise SystemExit("connection closed by the server")
            pending[s] += data
            end = response_end(pending[s])
            if end is None:
                continue
            pending[s] = pending[s][end:]
            done += 1
            if done == warmup:
                callgrind(pid, "on")
            if sent < total:
                s.sendall(REQUEST)
                sent += 1
    callgrind(pid, "off")
    for s in pending:
        s.close()


if __name__ == "__main__":
    main()
