#!/usr/bin/env python3
"""Requests lost while the only server of an upstream restarts: maitred with and without `queue`, and nginx.

    python3 bench/restart.py MAITRED_BINARY [DOWN_SECONDS]

One backend (bench/backend.c) behind the balancer, `wrk -t1 -c8 -d8s --timeout 15s --latency` for the whole run;
2 s in, the backend is killed (SIGKILL: its port refuses connections at once) and started again on the same port
DOWN_SECONDS later (default 1.0). Reported per row: requests wrk completed, client-visible errors (wrk's non-2xx
+ socket errors), and wrk's latency p99 and maximum (a queued request waits for the restart).

Rows: maitred with the upstream as the article writes it (`keepalive 32`, no queue), maitred with
`queue 64 timeout=10s`, and nginx 1.22 with the same block (open-source nginx has no `queue`; nginx Plus's
keeps only requests that find no server, and an only server is never marked down, so its requests fail like
these). Every process started is stopped by its PID; every run is bounded (`wrk -d`).
"""
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slowloris as S  # noqa: E402  (its process and port helpers)

wait_port = S.wait_port
BACKEND_PORT = 18301
LISTEN = 18390
procs = []


def start(cmd, port=None):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    procs.append(p)
    if port:
        wait_port(port)
    return p


def stop(p):
    S.stop(p)
    if p in procs:
        procs.remove(p)


def config(d, system, extra):
    head = f"worker_processes 1;\npid {d}/{system}.pid;\nerror_log {d}/{system}.log error;\n"
    if system == "nginx":
        head += "daemon off;\n"
    access = "access_log off;" + (" proxy_http_version 1.1; proxy_set_header Connection \"\";" if system == "nginx" else "")
    return head + f"""events {{ worker_connections 4096; }}
http {{
    {access}
    upstream app {{ server 127.0.0.1:{BACKEND_PORT}; keepalive 32; {extra} }}
    server {{ listen 127.0.0.1:{LISTEN}; location / {{ proxy_pass http://app; }} }}
}}
"""


def milliseconds(text):
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return "?"
    value, unit = float(match.group(1)), match.group(2)
    return f"{value / 1000 if unit == 'us' else value * 1000 if unit == 's' else value:.1f} ms"


def latencies(out):
    """wrk's p99 (latency distribution) and maximum (thread stats)."""
    p99 = re.search(r"^\s+99%\s+(\S+)\s*$", out, re.M)
    stats = re.search(r"^\s+Latency\s+\S+\s+\S+\s+(\S+)", out, re.M)
    return (milliseconds(p99.group(1)) if p99 else "?", milliseconds(stats.group(1)) if stats else "?")


def row(label, system, extra, binary, backend, d, down):
    conf = f"{d}/{system}.conf"
    open(conf, "w").write(config(d, system, extra))
    cmd = [binary, "-c", conf] if system == "maitred" else ["nginx", "-c", conf, "-p", d]
    balancer = start(["taskset", "-c", "0"] + cmd, LISTEN)
    server = start(["taskset", "-c", "1", backend, str(BACKEND_PORT)], BACKEND_PORT)
    time.sleep(0.5)
    wrk = subprocess.Popen(["taskset", "-c", "1", "wrk", "-t1", "-c8", "-d8s", "--timeout", "15s", "--latency",
                            f"http://127.0.0.1:{LISTEN}/"], stdout=subprocess.PIPE, text=True)
    time.sleep(2.0)
    server.kill()
    server.wait()
    procs.remove(server)
    time.sleep(down)
    server = start(["taskset", "-c", "1", backend, str(BACKEND_PORT)], BACKEND_PORT)
    out = wrk.communicate(timeout=90)[0]
    stop(server)
    stop(balancer)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    p99, worst = latencies(out)
    print(f"| {label} | {reqs} | {errors} | {p99} | {worst} |", flush=True)


def main():
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    maitred = os.path.abspath(sys.argv[1])
    down = float(sys.argv[2]) if len(sys.argv) == 3 else 1.0
    d = tempfile.mkdtemp(prefix="maitre-restart-")
    backend = f"{d}/backend"
    subprocess.run(["gcc", "-O2", "-o", backend, f"{HERE}/backend.c"], check=True)
    try:
        print(f"Only server killed 2 s into an 8 s `wrk -c8` run, back {down:.1f} s later.\n")
        print("| balancer | requests | client errors | p99 | max |")
        print("|---|---:|---:|---:|---:|")
        row("maitred, no queue (`keepalive 32`)", "maitred", "", maitred, backend, d, down)
        row("maitred, `queue 64 timeout=10s`", "maitred", "queue 64 timeout=10s;", maitred, backend, d, down)
        row("nginx, no queue (`keepalive 32`)", "nginx", "", "nginx", backend, d, down)
    finally:
        for p in list(procs):
            stop(p)


if __name__ == "__main__":
    main()
