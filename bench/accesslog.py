#!/usr/bin/env python3
"""What the access log costs: requests/s with logging off and with the article's `upstreamlog` format, for
maitred and nginx with the same configuration, in one run.

    python3 bench/accesslog.py MAITRED_BINARY [ROUNDS]
    python3 bench/accesslog.py MAITRED_BINARY --pairs N

`--pairs N` measures only what the target is about, `off` against the buffered log with the metrics page, as N
back-to-back pairs per system (the order inside a pair alternates, so a drift of the machine does not favour
either side) and reports the median and the spread of the N paired ratios, of req/s and of CPU per request.

Three bench/backend.c backends pinned to CPU 1, the balancer (1 worker / event loop) pinned to CPU 0, the
article's upstream block (`keepalive 32`), `wrk -t2 -c50 -d6s` pinned to CPU 1 after a 1 s warm-up. Rows per
system: `access_log off`, the article's format unbuffered, the same with `buffer=64k flush=1s`, and that with a
metrics location added (maitred's `metrics`, which turns on the per-request figures the metrics and status pages
read; nginx's `stub_status`, which it counts whether or not a location shows it). Every
configuration of a round runs before the next round starts (systems interleaved); the table gives the median
req/s over rounds, the median over rounds of each round's ratio to the same system with logging off (paired
within a round, so a slow spell of the machine moves both sides), and the balancer's CPU time per request (its
whole process tree's utime+stime over the measured run, divided by the requests wrk counted): on a 2-core VM
whose req/s swing by a third from run to run, CPU per request is the steadier measure of what logging costs. Log files go to a temporary directory
(a tmpfs on most machines: the cost measured is the balancer's, not a disk's). Every process started is stopped
by its PID; every load run ends on its own (`wrk -d`).
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slowloris as S  # noqa: E402  (its process and port helpers)
import bench as B  # noqa: E402  (its /proc CPU helper)

BACKENDS = [18401, 18402, 18403]
LISTEN = 18490
FORMAT = ("log_format upstreamlog '$remote_addr - $remote_user [$time_local] ' "
          "'\"$request\" $status $body_bytes_sent ' '\"$http_referer\" \"$http_user_agent\" ' "
          "'upstream: $upstream_addr ' 'upstream_response_time: $upstream_response_time ' "
          "'request_time: $request_time';")
BUFFERED = FORMAT + " access_log {d}/access.log upstreamlog buffer=64k flush=1s;"
# (label, http-level logging, the metrics location: maitred's `metrics` (which also records the status page's
# figures), nginx's only built-in one, `stub_status`)
ROWS = [("off", "access_log off;", False),
        ("article format", FORMAT + " access_log {d}/access.log upstreamlog;", False),
        ("article format, buffer=64k flush=1s", BUFFERED, False),
        ("buffered log + metrics location", BUFFERED, True)]


def config(d, system, logging, metrics):
    head = f"worker_processes 1;\npid {d}/{system}.pid;\nerror_log {d}/{system}-error.log error;\n"
    extra = ""
    if system == "nginx":
        head += "daemon off;\n"
        extra = "proxy_http_version 1.1; proxy_set_header Connection \"\";"
    servers = " ".join(f"server 127.0.0.1:{p};" for p in BACKENDS)
    page = ""
    if metrics:
        page = "location = /metrics { metrics; }" if system == "maitred" else "location = /stub { stub_status; }"
    return head + f"""events {{ worker_connections 4096; }}
http {{
    {logging.format(d=d)}
    keepalive_timeout 300s;
    upstream app {{ {servers} keepalive 32; }}
    server {{ listen 127.0.0.1:{LISTEN}; location / {{ proxy_pass http://app; {extra} }} {page} }}
}}
"""


def measure(system, binary, logging, metrics, d):
    conf = f"{d}/{system}.conf"
    open(conf, "w").write(config(d, system, logging, metrics))
    if os.path.exists(f"{d}/access.log"):
        os.remove(f"{d}/access.log")
    cmd = [binary, "-c", conf] if system == "maitred" else ["nginx", "-c", conf, "-p", d]
    balancer = S.start(cmd, "0")
    try:
        S.wait_port(LISTEN)
        subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c50", "-d1s", f"http://127.0.0.1:{LISTEN}/"],
                       capture_output=True, check=True)
        cpu_before = B.tree_cpu(balancer.pid)
        out = subprocess.run(["taskset", "-c", "1", "wrk", "-t2", "-c50", "-d6s", f"http://127.0.0.1:{LISTEN}/"],
                             capture_output=True, text=True, check=True).stdout
        cpu = B.tree_cpu(balancer.pid) - cpu_before
    finally:
        S.stop(balancer)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise RuntimeError(f"{system}: {errors.group(1)} non-2xx responses")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), cpu * 1e6 / max(1, requests)


def main():
    if len(sys.argv) == 4 and sys.argv[2] == "--pairs":
        return pairs(os.path.abspath(sys.argv[1]), int(sys.argv[3]))
    if len(sys.argv) not in (2, 3):
        raise SystemExit(__doc__)
    maitred = os.path.abspath(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) == 3 else 3
    d = tempfile.mkdtemp(prefix="maitre-accesslog-")
    backend = f"{d}/backend"
    subprocess.run(["gcc", "-O2", "-o", backend, f"{HERE}/backend.c"], check=True)
    backends = [S.start([backend, str(p)], "1") for p in BACKENDS]
    results = {}
    try:
        for p in BACKENDS:
            S.wait_port(p)
        for _ in range(rounds):
            for system, binary in (("maitred", maitred), ("nginx", "nginx")):
                for label, logging, metrics in ROWS:
                    results.setdefault((system, label), []).append(measure(system, binary, logging, metrics, d))
                    time.sleep(0.5)
    finally:
        for p in backends:
            S.stop(p)
    print(f"Medians over {rounds} rounds, `wrk -t2 -c50 -d6s`, 1 worker, the article's `keepalive 32`.\n")
    print("| system | access log | req/s | req/s range | req/s vs off (paired) | CPU µs/request | CPU vs off |")
    print("|---|---|---:|---|---:|---:|---:|")
    for system in ("maitred", "nginx"):
        base = results[(system, "off")]
        base_cpu = statistics.median(c for _, c in base)
        for label, _, _ in ROWS:
            values = results[(system, label)]
            rates = [r for r, _ in values]
            paired = statistics.median(r / b for (r, _), (b, _) in zip(values, base))
            cpu = statistics.median(c for _, c in values)
            print(f"| {system} | {label} | {statistics.median(rates):,.0f} | {min(rates):,.0f}–{max(rates):,.0f} | "
                  f"{paired:.3f} | {cpu:.1f} | {cpu / base_cpu:.3f} |")


def pairs(maitred, count):
    off = ROWS[0]
    both = ROWS[-1]
    d = tempfile.mkdtemp(prefix="maitre-accesslog-")
    backend = f"{d}/backend"
    subprocess.run(["gcc", "-O2", "-o", backend, f"{HERE}/backend.c"], check=True)
    backends = [S.start([backend, str(p)], "1") for p in BACKENDS]
    ratios = {"maitred": [], "nginx": []}
    try:
        for p in BACKENDS:
            S.wait_port(p)
        for index in range(count):
            for system, binary in (("maitred", maitred), ("nginx", "nginx")):
                order = (off, both) if index % 2 == 0 else (both, off)
                figures = {}
                for label, logging, metrics in order:
                    figures[label] = measure(system, binary, logging, metrics, d)
                    time.sleep(0.5)
                (rate_off, cpu_off), (rate_on, cpu_on) = figures[off[0]], figures[both[0]]
                ratios[system].append((rate_on / rate_off, cpu_on / cpu_off))
    finally:
        for p in backends:
            S.stop(p)
    print(f"{count} back-to-back pairs per system, `{off[0]}` against `{both[0]}`, `wrk -t2 -c50 -d6s`, "
          "1 worker, the article's `keepalive 32`.\n")
    print("| system | req/s with / without: median | quartiles | CPU per request with / without: median | quartiles |")
    print("|---|---:|---|---:|---|")
    for system, values in ratios.items():
        rates = sorted(r for r, _ in values)
        cpus = sorted(c for _, c in values)
        def quartiles(xs):
            q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0], xs[0], xs[0]]
            return f"{q[0]:.3f}–{q[2]:.3f}"
        print(f"| {system} | {statistics.median(rates):.3f} | {quartiles(rates)} | {statistics.median(cpus):.3f} | "
              f"{quartiles(cpus)} |")


if __name__ == "__main__":
    main()
