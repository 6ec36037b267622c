#!/usr/bin/env python3
"""Healthy clients' latency while slow and idle clients hold connections: maitred vs nginx, same configuration.

    python3 bench/slowloris.py MAITRED_BINARY [--slow 2000] [--idle 1000] [--duration 8] [--rounds 2]

For each system: wrk -c50 --latency alone (baseline), then the same while bench/slow_clients.py holds SLOW
connections trickling a request head (one byte per connection per second) and IDLE silent connections. Reports
p50/p99 both ways and the p99 ratio (with / without). Both balancers get the article's upstream block
(keepalive 32) and their defaults otherwise; one worker each, pinned to CPU 0; wrk, backends and the slow clients
on CPU 1. Everything started is stopped by PID; every run is bounded by wrk -d.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND_PORTS = [18101, 18102, 18103]
PORT = 18180
started = []


def wait_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def start(cmd, cpu, **kw):
    p = subprocess.Popen(["taskset", "-c", cpu] + cmd, **kw)
    started.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


UPSTREAM = "".join(f"        server 127.0.0.1:{p};\n" for p in BACKEND_PORTS)


def maitred_conf(d):
    return f"""worker_processes 1;
pid {d}/maitred.pid;
error_log {d}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    upstream app {{
{UPSTREAM}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{PORT};
        location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}
}}
"""


def nginx_conf(d):
    return f"""user root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    client_body_temp_path {d};
    proxy_temp_path {d};
    upstream app {{
{UPSTREAM}        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{PORT};
        location / {{ proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}
}}
"""


def wrk(duration):
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t2", "-c50", f"-d{duration}s", "--latency", f"http://127.0.0.1:{PORT}/"],
        capture_output=True, text=True, timeout=duration + 30).stdout

    def ms(label):
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise RuntimeError(f"no {label} in wrk output:\n{out}")
        v = float(m.group(1))
        return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockerr = re.search(r"Socket errors: (.*)", out)
    return {"p50": ms("50%"), "p99": ms("99%"), "rps": rps,
            "errors": (int(errors.group(1)) if errors else 0), "sockerr": sockerr.group(1) if sockerr else ""}


def measure(kind, binary, d, args):
    if kind == "maitred":
        conf = os.path.join(d, "maitred.conf")
        open(conf, "w").write(maitred_conf(d))
        p = start([binary, "-c", conf], "0")
    else:
        conf = os.path.join(d, "nginx.conf")
        open(conf, "w").write(nginx_conf(d))
        p = start(["nginx", "-c", conf, "-g", "daemon off;"], "0")
    try:
        wait_port(PORT)
        wrk(1)  # warm-up
        base = wrk(args.duration)
        slow = start([sys.executable, os.path.join(HERE, "slow_clients.py"), str(PORT), str(args.slow),
                      str(args.idle), "1.0"], "1", stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready = slow.stdout.readline().split()
        time.sleep(2)  # the trickle reaches its steady rate
        loaded = wrk(args.duration)
        slow.stdin.close()
        done = slow.stdout.readline().split()
        slow.wait(timeout=30)
        return base, loaded, ready, done
    finally:
        stop(p)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("maitred")
    ap.add_argument("--slow", type=int, default=2000)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    d = tempfile.mkdtemp(prefix="maitre-slowloris-")
    backend = os.path.join(d, "backend")
    subprocess.run(["gcc", "-O2", "-o", backend, os.path.join(HERE, "backend.c")], check=True)
    try:
        for port in BACKEND_PORTS:
            start([backend, str(port)], "1")
        for port in BACKEND_PORTS:
            wait_port(port)
        rows = []
        for r in range(args.rounds):
            for kind in ("maitred", "nginx"):
                base, loaded, ready, done = measure(kind, args.maitred, d, args)
                ratio = loaded["p99"] / base["p99"]
                rows.append((kind, r, base, loaded, ratio, ready, done))
                print(f"{kind:8} round {r}: alone p50 {base['p50']:.2f} p99 {base['p99']:.2f} ms {base['rps']:.0f} req/s"
                      f" | with slow/idle {ready[1:]} p50 {loaded['p50']:.2f} p99 {loaded['p99']:.2f} ms"
                      f" {loaded['rps']:.0f} req/s | p99 x{ratio:.2f} | errors {base['errors']}/{loaded['errors']}"
                      f" {loaded['sockerr']} | slow bytes sent {done[1:]}", flush=True)
    finally:
        for p in reversed(started):
            stop(p)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
