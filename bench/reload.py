#!/usr/bin/env python3
"""Reload under load: maitred vs nginx, the article's upstream block (keepalive 32) on both.

    python3 bench/reload.py MAITRED_BINARY

For each system, with a new connection per request and with keep-alive clients: `wrk -t2 -c20 -d10s` while the
balancer gets SIGHUP every 0.5 s (19 reloads); prints requests and failures (non-2xx + socket errors). One worker
pinned to CPU 0; wrk and three backends (bench/backend.c) on CPU 1. Everything started is stopped by PID.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slowloris as S  # noqa: E402  (its configurations and helpers)

procs = []


def start(cmd, cpu):
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd)
    procs.append(p)
    return p


def run(kind, close, maitred, d):
    if kind == "maitred":
        open(d + "/m.conf", "w").write(S.maitred_conf(d))
        p = start([maitred, "-c", d + "/m.conf"], "0")
    else:
        open(d + "/n.conf", "w").write(S.nginx_conf(d))
        p = start(["nginx", "-c", d + "/n.conf", "-g", "daemon off;"], "0")
    S.wait_port(S.PORT)
    time.sleep(0.5)
    args = ["taskset", "-c", "1", "wrk", "-t2", "-c20", "-d10s"]
    args += (["-H", "Connection: close"] if close else []) + [f"http://127.0.0.1:{S.PORT}/"]
    w = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    reloads = 0
    t0 = time.time()
    time.sleep(0.25)
    while time.time() - t0 < 9.7:
        os.kill(p.pid, signal.SIGHUP)
        reloads += 1
        time.sleep(0.5)
    out = w.communicate(timeout=60)[0]
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    print(f"{kind:8} {'close' if close else 'keepalive':9}: {reloads} reloads, {reqs} requests, {failures} failed"
          f" (non2xx {non2xx.group(1) if non2xx else 0}, socket {sock.groups() if sock else 'none'})", flush=True)
    S.stop(p)
    procs.remove(p)
    time.sleep(1)


def main():
    maitred = sys.argv[1]
    d = tempfile.mkdtemp(prefix="maitre-reload-")
    subprocess.run(["gcc", "-O2", "-o", d + "/backend", os.path.join(HERE, "backend.c")], check=True)
    try:
        for port in S.BACKEND_PORTS:
            start([d + "/backend", str(port)], "1")
        for port in S.BACKEND_PORTS:
            S.wait_port(port)
        for kind in ("maitred", "nginx"):
            for close in (True, False):
                run(kind, close, maitred, d)
    finally:
        for p in procs:
            S.stop(p)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
