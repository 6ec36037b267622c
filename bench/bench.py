#!/usr/bin/env python3
"""Maitre benchmark driver: maitred vs nginx vs HAProxy vs direct, on loopback.

Run through bench/run.sh (which installs the tools, builds maitred in release mode and compiles the backend).
Everything it starts is stopped by PID; every load run is bounded by wrk -d or a byte count.
See docs/performance.md for what each scenario measures.
"""
import argparse
import datetime
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
WORK = os.path.join(BENCH, "results", "tmp")
MAITRED = os.path.join(WORK, "maitred")   # run.sh's snapshot of .build-release/release/maitred
BACKEND = os.path.join(WORK, "backend")
IDLE_CLIENT = os.path.join(BENCH, "idle_clients.py")

BACKEND_PORTS = [18001, 18002, 18003]
DIRECT_PORT = 18000          # a fourth backend, on the balancer's CPU: the "direct" reference
PORTS = {"maitred": 18081, "nginx-article": 18082, "nginx": 18083, "haproxy": 18084, "maitred-article": 18085,
         "direct": DIRECT_PORT}
# Like with like: each maitred row runs the configuration of the nginx row it is compared with (proxy_conf writes
# both from the same text). "maitred"/"nginx" are the tuned pair; HAProxy and direct are references.
LABEL = {
    "maitred-article": "maitred (article: keepalive 32)",
    "nginx-article": "nginx (article: keepalive 32)",
    "maitred": "maitred (tuned: keepalive 1024)",
    "nginx": "nginx (tuned: keepalive 1024)",
    "haproxy": "HAProxy",
    "direct": "direct (no balancer)",
}
PAIR = {"maitred-article": "nginx-article", "maitred": "nginx", "haproxy": "nginx", "direct": "nginx"}
PAIR_LABEL = {"nginx-article": "nginx article", "nginx": "nginx tuned"}
BALANCER_CPU = "0"
CLIENT_CPU = "1"             # wrk and the three backends
CLK_TCK = os.sysconf("SC_CLK_TCK")

started = []                 # Popen objects we own, stopped by PID at exit


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc helpers

def descendants(root):
    """root and all its descendants (from /proc/*/stat ppid)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu(root):
    """utime+stime (seconds) of root's whole process tree."""
    total = 0
    for p in descendants(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime (fields 14, 15 of stat)
    return total / CLK_TCK


def busy_cpu():
    """Machine-wide user+nice+system CPU seconds (/proc/stat)."""
    with open("/proc/stat") as f:
        v = f.readline().split()
    return (int(v[1]) + int(v[2]) + int(v[3])) / CLK_TCK


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Interference:
    """CPU used during a window by processes that are not ours (balancer, backends, wrk, this script):
    another build or test run on the machine. Measured as machine-wide busy time minus ours."""

    def __init__(self, balancer_pid):
        self.pid = balancer_pid

    def ours(self):
        own = resource.getrusage(resource.RUSAGE_SELF)
        total = own.ru_utime + own.ru_stime + children_cpu()
        for p in set(BACKEND_PIDS + [self.pid]):
            total += tree_cpu(p)
        return total

    def __enter__(self):
        self.b0, self.o0 = busy_cpu(), self.ours()
        return self

    def __exit__(self, *exc):
        self.foreign = max(0.0, (busy_cpu() - self.b0) - (self.ours() - self.o0))


def wait_quiet(pid, limit=120):
    """Wait (at most `limit` s) until other processes use less than MAX_FOREIGN of a core over 1 s."""
    waited = 0
    while waited < limit:
        with Interference(pid) as inter:
            time.sleep(1)
        if inter.foreign <= MAX_FOREIGN:
            break
        waited += 1
    if waited:
        log(f"  waited {waited}s for other processes to go quiet")
    return waited


def tree_status(root, key):
    """Sum of a /proc/PID/status kB field (VmRSS, VmHWM) over root's tree, in KiB."""
    total = 0
    for p in descendants(root):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- processes

def spawn(cmd, cpus=None, log_name=None, **kw):
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    out = open(os.path.join(WORK, log_name), "ab") if log_name else subprocess.DEVNULL
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, **kw)
    started.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10):
    if p.poll() is None:
        try:
            p.send_signal(sig)
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in reversed(descendants(p.pid)):   # children first, then the root, each by PID
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            p.wait()
    if p in started:
        started.remove(p)


def ensure_port_free(port):
    """Refuse to measure when something else already listens on a port the suite is about to use: it would
    answer in the balancer's place (seen once: a developer's maitred on 18081 took the measured traffic)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise RuntimeError(f"port {port} is already in use ({e}); stop whatever listens there and run again")


def wait_http(port, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                data = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                if data.startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answers 200 on port {port}")


# ---------------------------------------------------------------- configurations

def proxy_conf(kind, workers, name):
    """The configuration of an nginx or maitred row. Both servers get the same text: maitred reads nginx's
    syntax, so only the directives maitred does not have are left out of its copy (user, worker_rlimit_nofile,
    the temp paths, proxy_max_temp_file_size, proxy_request_buffering: maitred never writes bodies to disk and
    always streams request bodies, which is what those lines ask of nginx). Both get `access_log off`.

    '*-article': the README/article's upstream block (keepalive 32) with nginx's defaults otherwise (1000
    requests per client and per upstream connection, 60 s idle upstream timeout);
    tuned ('nginx', 'maitred'): a pool larger than the client connection count and no per-connection request
    limits. Returns (prefix directory, config path)."""
    server = "maitred" if kind.startswith("maitred") else "nginx"
    tuned = not kind.endswith("-article")
    d = os.path.join(WORK, name)
    for sub in ("logs", "client_body", "proxy") if server == "nginx" else ("logs",):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    nginx = server == "nginx"
    lines = ["# generated by bench/bench.py"]
    if nginx:
        lines += ["user root;"]
    lines += [f"worker_processes {workers};"]
    if nginx:
        lines += ["worker_rlimit_nofile 20000;"]
    lines += [f"pid {d}/{server}.pid;",
              f"error_log {d}/logs/error.log warn;",
              "events { worker_connections 19000; }",
              "http {",
              "    access_log off;"]
    if nginx:
        lines += [f"    client_body_temp_path {d}/client_body;",
                  f"    proxy_temp_path {d}/proxy;",
                  "    proxy_max_temp_file_size 0;",
                  "    proxy_request_buffering off;"]
    lines += ["    client_max_body_size 0;",
              "    keepalive_timeout 300s;"]
    if tuned:
        lines += ["    keepalive_requests 1000000;"]
    lines += ["    upstream backends {"]
    lines += [f"        server 127.0.0.1:{p};" for p in BACKEND_PORTS]
    lines += [f"        keepalive {1024 if tuned else 32};"]
    if tuned:
        lines += ["        keepalive_requests 1000000;"]
    lines += ["    }",
              "    server {",
              f"        listen 127.0.0.1:{PORTS[kind]};",
              "        location / {",
              "            proxy_pass http://backends;",
              "            proxy_http_version 1.1;",
              '            proxy_set_header Connection "";',
              "        }",
              "    }",
              "}"]
    path = os.path.join(d, f"{server}.conf")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return d, path


def haproxy_conf(threads, name):
    d = os.path.join(WORK, name)
    os.makedirs(d, exist_ok=True)
    servers = "".join(f"    server s{i} 127.0.0.1:{p}\n" for i, p in enumerate(BACKEND_PORTS, 1))
    conf = f"""# generated by bench/bench.py
global
    nbthread {threads}
    maxconn 10200
    no strict-limits
defaults
    mode http
    timeout connect 5s
    timeout client 300s
    timeout server 300s
    timeout http-keep-alive 300s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:{PORTS['haproxy']}
    default_backend be
backend be
    balance roundrobin
{servers}"""
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(conf)
    return path


class System:
    """One balancer (or 'direct') started for one cell and stopped after it."""

    def __init__(self, kind, workers, pinned):
        self.kind, self.workers, self.pinned = kind, workers, pinned
        self.proc = None
        self.port = PORTS[kind]

    def start(self):
        cpus = BALANCER_CPU if self.pinned else None
        name = f"{self.kind}-w{self.workers}"
        if self.kind != "direct":
            ensure_port_free(self.port)
        if self.kind in ("maitred", "maitred-article"):
            _, conf = proxy_conf(self.kind, self.workers, name)
            self.proc = spawn([MAITRED, "-c", conf], cpus, f"{name}.log")
        elif self.kind in ("nginx", "nginx-article"):
            prefix, conf = proxy_conf(self.kind, self.workers, name)
            self.proc = spawn(["nginx", "-p", prefix + "/", "-c", conf, "-g", "daemon off;"], cpus, f"{name}.log")
        elif self.kind == "haproxy":
            conf = haproxy_conf(self.workers, name)
            self.proc = spawn(["haproxy", "-db", "-f", conf], cpus, f"{name}.log")
        elif self.kind == "direct":
            self.proc = None     # the direct backend runs for the whole suite
            return self
        wait_http(self.port)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{name} exited at start; see bench/results/tmp/{name}.log")
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else DIRECT_PID

    def stop(self):
        if self.proc:
            stop(self.proc, signal.SIGTERM)
            self.proc = None


DIRECT_PID = None
BACKEND_PIDS = []
MAX_FOREIGN = 0.15           # cores


# ---------------------------------------------------------------- upstream connections

def backend_accepts(port):
    """Connections the backend on `port` has accepted since it started, this query's own included."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET /__accepts HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return int(data.split(b"\r\n\r\n", 1)[1])


def upstream_accepts():
    """Sum over the three balanced backends; None when a backend does not answer."""
    try:
        return sum(backend_accepts(p) for p in BACKEND_PORTS)
    except (OSError, ValueError, IndexError):
        return None


def new_upstream_conns(before, after):
    """Upstream connections the balancer opened between two upstream_accepts() readings: the backends count
    every accepted connection, and the second reading's own three connections are among them."""
    if before is None or after is None:
        return None
    return after - before - len(BACKEND_PORTS)


# ---------------------------------------------------------------- wrk

def parse_duration(v, unit):
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_size(v, unit):
    return float(v) * {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}[unit]


def run_wrk(port, conns, duration, path="/", close=False, cpus=CLIENT_CPU, threads=2):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s"]
    if close:
        cmd += ["-H", "Connection: close"]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    if cpus is not None:
        cmd = ["taskset", "-c", cpus] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    r = {"raw": out, "non2xx": 0, "sockerr": 0}
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    r["mbps"] = parse_size(m.group(1), m.group(2)) / 1e6 if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        r["p" + pct] = parse_duration(m.group(1), m.group(2)) if m else float("nan")
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        r["sockerr"] = sum(int(x) for x in m.groups())
        r["sockerr_detail"] = m.group(0)
    return r


# ---------------------------------------------------------------- scenarios

def throughput_cells():
    """(id, title, workers, pinned, conns, path, close, unit)"""
    cells = [
        ("s1-c50", "1 · small responses, keep-alive, 1 worker, 50 connections", 1, True, 50, "/", False),
        ("s1-c256", "1 · small responses, keep-alive, 1 worker, 256 connections", 1, True, 256, "/", False),
        ("s2-c50", "2 · small responses, keep-alive, 2 workers, 50 connections", 2, False, 50, "/", False),
        ("s2-c256", "2 · small responses, keep-alive, 2 workers, 256 connections", 2, False, 256, "/", False),
        ("s3-close", "3 · new client connection per request (Connection: close), 1 worker, 50 connections",
         1, True, 50, "/", True),
        ("s4-64k", "4 · 64 KiB responses, keep-alive, 1 worker, 50 connections", 1, True, 50, "/bytes/65536", False),
        ("s4-1m", "4 · 1 MiB responses, keep-alive, 1 worker, 50 connections", 1, True, 50, "/bytes/1048576", False),
    ]
    return cells


# Interleaved in this order within each cell; the report lists them in the same order (pairs adjacent).
SYSTEMS = ["maitred-article", "nginx-article", "maitred", "nginx", "haproxy", "direct"]


def run_throughput(cells, rounds, duration, warmup, results, systems=SYSTEMS):
    for rnd in range(1, rounds + 1):
        for cid, title, workers, pinned, conns, path, close in cells:
            # Every other round runs the systems in reverse order, so that no system always follows the same
            # neighbour (a cell can run slower right after a heavy one).
            for kind in (systems if rnd % 2 else list(reversed(systems))):
                system = System(kind, workers, pinned).start()
                try:
                    wrk_cpus = CLIENT_CPU if pinned else None
                    if warmup:
                        run_wrk(system.port, conns, warmup, path, close, wrk_cpus)
                    # Re-run (up to twice) when something else on the machine (a build, a test run) used
                    # more than MAX_FOREIGN of a core during the run; keep the least disturbed run.
                    best = None
                    for attempt in range(3):
                        wait_quiet(system.pid)
                        acc0 = upstream_accepts() if kind != "direct" else None
                        cpu0 = tree_cpu(system.pid)
                        with Interference(system.pid) as inter:
                            r = run_wrk(system.port, conns, duration, path, close, wrk_cpus)
                        r["cpu"] = tree_cpu(system.pid) - cpu0
                        r["newconn"] = new_upstream_conns(acc0, upstream_accepts()) if kind != "direct" else None
                        r["foreign"] = inter.foreign / duration
                        if best is None or r["foreign"] < best["foreign"]:
                            best = r
                        if r["foreign"] <= MAX_FOREIGN:
                            break
                        log(f"  {kind}: {r['foreign']:.2f} cores used by other processes, measuring again")
                    r = best
                    if system.proc and system.proc.poll() is not None:
                        r["died"] = True
                finally:
                    system.stop()
                results.setdefault(cid, {}).setdefault(kind, []).append(r)
                nc = r.get("newconn")
                log(f"round {rnd} {cid:9} {kind:15} {r['rps']:10.0f} req/s  p50 {r['p50']:.2f}ms "
                    f"p99 {r['p99']:.2f}ms  cpu {r['cpu']:.2f}s  new upstream conns "
                    f"{'-' if nc is None else nc} ({fmt_share(nc, r['requests'])})  non2xx {r['non2xx']} "
                    f"sockerr {r['sockerr']} foreign {r['foreign']:.2f}")
                with open(os.path.join(WORK, "wrk.log"), "a") as f:
                    f.write(f"=== round {rnd} {cid} {kind}\n{r['raw']}\n")
    return cells


def run_idle(n, results):
    """RSS per idle keep-alive client connection."""
    for kind in ["maitred", "nginx", "haproxy"]:
        system = System(kind, 1, True).start()
        try:
            run_wrk(system.port, 10, 1)                 # warm: pools, allocator
            wait_quiet(system.pid)
            before = tree_status(system.pid, "VmRSS")
            client = subprocess.Popen([sys.executable, IDLE_CLIENT, str(system.port), str(n)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            started.append(client)
            line = client.stdout.readline().split()      # "ready OK FAILED"
            time.sleep(1.0)
            after = tree_status(system.pid, "VmRSS")
            ok, failed = (int(line[1]), int(line[2])) if len(line) == 3 else (0, n)
            client.stdin.close()                          # the client closes its sockets and exits
            client.wait(60)
            started.remove(client)
        finally:
            system.stop()
        per = (after - before) * 1024 / max(ok, 1)
        results[kind] = {"before": before, "after": after, "ok": ok, "failed": failed, "per_conn": per}
        log(f"idle {kind:8} rss {before} -> {after} KiB, ok {ok} failed {failed}, {per:.0f} B/conn")


def run_stream(size, results):
    """Streamed upload and download of `size` bytes; the balancer's peak RSS (VmHWM over its process tree)."""
    for kind in ["maitred", "nginx", "haproxy", "direct"]:
        system = System(kind, 1, True).start()
        try:
            url = f"http://127.0.0.1:{system.port}"
            wait_quiet(system.pid)
            hwm0 = tree_status(system.pid, "VmHWM")
            t = time.time()
            dl = subprocess.run(["taskset", "-c", CLIENT_CPU, "curl", "-s", "-o", "/dev/null", "--max-time", "600",
                                 "-w", "%{http_code} %{size_download}", f"{url}/bytes/{size}"],
                                capture_output=True, text=True).stdout.split()
            dl_s = time.time() - t
            t = time.time()
            gen = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
            up = subprocess.run(["taskset", "-c", CLIENT_CPU, "curl", "-s", "-T", "-", "-H", "Expect:",
                                 "--max-time", "600", "-w", " %{http_code}", f"{url}/upload"],
                                stdin=gen.stdout, capture_output=True, text=True).stdout.split()
            gen.stdout.close()
            gen.wait()
            up_s = time.time() - t
            hwm = tree_status(system.pid, "VmHWM")
        finally:
            system.stop()
        dl_ok = len(dl) == 2 and dl[0] == "200" and int(dl[1]) == size
        up_ok = len(up) == 3 and up[2] == "200" and int(up[1]) == size
        results[kind] = {"dl_s": dl_s, "up_s": up_s, "dl_ok": dl_ok, "up_ok": up_ok,
                         "hwm0": hwm0, "hwm": hwm, "dl": dl, "up": up}
        log(f"stream {kind:8} down {size / dl_s / 1e6:.0f} MB/s ok={dl_ok} up {size / up_s / 1e6:.0f} MB/s "
            f"ok={up_ok} hwm {hwm} KiB")


# ---------------------------------------------------------------- report

def med(xs):
    return statistics.median(xs) if xs else float("nan")


def paired_ratios(rows):
    """Per pair present in `rows` (maitred article / nginx article, maitred / nginx tuned): the median and
    quartiles of the per-round req/s ratios, and each round's, as text. Pairing within a round takes out what
    changes between rounds on a shared machine."""
    out = []
    for kind, ref in (("maitred-article", "nginx-article"), ("maitred", "nginx")):
        a, b = rows.get(kind, []), rows.get(ref, [])
        ratios = [x["rps"] / y["rps"] for x, y in zip(a, b) if y["rps"]]
        if not ratios:
            continue
        q = statistics.quantiles(ratios, n=4) if len(ratios) >= 2 else [ratios[0]] * 3
        ci = median_interval(ratios)
        shown = "–" if ci is None else f"{ci[0]:.3f}–{ci[1]:.3f} ({ci[2]:.0%})"
        out.append(f"{LABEL[kind]} vs {PAIR_LABEL[ref]} {med(ratios):.3f} (IQR {q[0]:.3f}–{q[2]:.3f}; "
                   f"confidence interval of the median {shown}; "
                   + ", ".join(f"{r:.2f}" for r in ratios) + ")")
    return out


def median_interval(xs, level=0.95):
    """A distribution-free confidence interval for the median of xs: the k-th smallest and k-th largest values,
    with k the largest rank at which the binomial(n, 1/2) tails hold no more than 1 - level. No assumption about
    the spread of the ratios (this VM's is wide and skewed). Returns (low, high, actual coverage), or None when
    n is too small for the level (n < 6 at 95%)."""
    n = len(xs)
    ordered = sorted(xs)
    tail = 0.0
    k = 0
    while True:
        nxt = tail + math.comb(n, k) / 2 ** n
        if 2 * nxt > 1 - level:
            break
        tail, k = nxt, k + 1
    if k == 0:
        return None
    return ordered[k - 1], ordered[n - k], 1 - 2 * tail


def versions():
    def cmd(c):
        try:
            p = subprocess.run(c, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except Exception as e:   # noqa: BLE001
            return f"? ({e})"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        with open(os.path.join(WORK, "maitred.build")) as f:
            build = f.read().split("\n")
        commit = build[0].split()[1]
        dirty = [line.split()[-1] for line in build[1:] if line.strip()]
    except (OSError, IndexError):
        commit, dirty = "?", []
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "kernel": platform.release(),
        "os": cmd(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "maitred": cmd([MAITRED, "-v"]) + f" (built from git {commit}" +
                   (f" plus uncommitted changes to {', '.join(dirty)})" if dirty else ", clean tree)"),
        "nginx": cmd(["nginx", "-v"]),
        "haproxy": cmd(["haproxy", "-v"]).split(" - ")[0],
        "wrk": cmd(["wrk", "-v"]).split(" Copyright")[0],
        "curl": " ".join(cmd(["curl", "--version"]).split()[:2]),
    }


def fmt_ms(v):
    return f"{v:.2f}" if v == v else "–"


def fmt_share(n, reqs):
    """n new upstream connections over reqs requests, as a percentage."""
    if n is None or not reqs:
        return "–"
    p = 100.0 * n / reqs
    if n > 0 and p < 0.01:
        return "<0.01%"
    return f"{p:.2f}%" if p < 10 else f"{p:.1f}%"


def report(args, cells, thr, idle, stream, started_at, elapsed):
    v = versions()
    L = []
    L.append("# Maitre benchmark results\n")
    L.append(f"Generated by `bench/run.sh{' --quick' if args.quick else ''}` on "
             f"{started_at:%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min.\n")
    L.append("| | |\n|---|---|")
    for k in ("cpu", "kernel", "os", "maitred", "nginx", "haproxy", "wrk", "curl"):
        L.append(f"| {k} | {v[k]} |")
    L.append("")
    L.append(f"Method: {args.rounds} round(s), systems interleaved within every round "
             f"(maitred article, nginx article, maitred tuned, nginx tuned, HAProxy, direct, then the next cell; "
             f"every other round in reverse order); "
             f"each cell is a {args.warmup}s warm-up then a {args.duration}s `wrk -t2 --latency` run; figures are "
             f"medians over rounds. Like with like: each maitred row gets the same configuration as the nginx row "
             f"it is compared with (the same generated text, minus nginx-only directives): 'article' = the "
             f"article's `keepalive 32` upstream block with default keepalive_requests/upstream keepalive_timeout; "
             f"'tuned' = `keepalive 1024` and `keepalive_requests 1000000` on both sides. Ratios pair maitred "
             f"article with nginx article and maitred tuned with nginx tuned (column 'vs'); HAProxy and direct "
             f"are references, compared with nginx tuned. 'CPU s/100k' is the balancer's whole process tree "
             f"utime+stime (/proc/PID/stat) during the measured run, per 100,000 requests. 'new upstream conns' "
             f"is the share of requests that opened a new upstream connection: connections the three backends "
             f"accepted during the measured run (their `/__accepts` counter, read before and after) divided by "
             f"the requests wrk counted, summed over rounds (count in brackets); 0% = every request reused a "
             f"pooled connection. Pinned cells: balancer on CPU {BALANCER_CPU}, wrk and the three backends on "
             f"CPU {CLIENT_CPU}; direct = wrk to a fourth backend pinned on CPU {BALANCER_CPU}. "
             f"Errors = wrk's Non-2xx responses + socket errors summed over rounds; ⚠ flags a system with any.\n")
    for cid, title, workers, pinned, conns, path, close in cells:
        rows = thr.get(cid, {})
        if not rows:
            continue
        agg = {}
        for kind, runs in rows.items():
            reqs = sum(r["requests"] for r in runs)
            cpu = sum(r["cpu"] for r in runs)
            agg[kind] = {
                "rps": med([r["rps"] for r in runs]),
                "mbps": med([r["mbps"] for r in runs]),
                "p50": med([r["p50"] for r in runs]),
                "p99": med([r["p99"] for r in runs]),
                "cpu100k": (cpu / reqs * 1e5) if reqs and kind != "direct" else float("nan"),
                "non2xx": sum(r["non2xx"] for r in runs),
                "sockerr": sum(r["sockerr"] for r in runs),
                "died": any(r.get("died") for r in runs),
                "spread": (min(r["rps"] for r in runs), max(r["rps"] for r in runs)),
                "newconn": None if any(r.get("newconn") is None for r in runs)
                else sum(r["newconn"] for r in runs),
                "requests": reqs,
            }
        L.append(f"### {title}\n")
        hdr = ' -H "Connection: close"' if close else ""
        L.append(f"`wrk -c{conns}{hdr} http://…{path}` · "
                 f"{'pinned' if pinned else 'not pinned (2 workers share both cores with wrk)'}\n")
        big = path != "/"
        L.append("| system | req/s | " + ("MB/s | " if big else "") +
                 "p50 ms | p99 ms | CPU s/100k req | new upstream conns | vs | req/s ratio | CPU ratio | errors |")
        L.append("|---|---:|" + ("---:|" if big else "") + "---:|---:|---:|---:|---|---:|---:|---|")
        for kind in SYSTEMS:
            if kind not in agg:
                continue
            a = agg[kind]
            errs = a["non2xx"] + a["sockerr"]
            err = "0" if errs == 0 and not a["died"] else \
                f"⚠ non-2xx {a['non2xx']}, socket {a['sockerr']}{', process died' if a['died'] else ''}"
            ref_kind = PAIR.get(kind)
            ref = agg.get(ref_kind)
            vs = PAIR_LABEL[ref_kind] if ref else ("(reference)" if kind in PAIR_LABEL else "–")
            rr = f"{a['rps'] / ref['rps']:.2f}" if ref and ref["rps"] else "–"
            cr = f"{a['cpu100k'] / ref['cpu100k']:.2f}" if ref and a["cpu100k"] == a["cpu100k"] else "–"
            cpu = f"{a['cpu100k']:.2f}" if a["cpu100k"] == a["cpu100k"] else "–"
            nc = "–" if a["newconn"] is None else f"{fmt_share(a['newconn'], a['requests'])} ({a['newconn']:,})"
            L.append(f"| {LABEL[kind]} | {a['rps']:,.0f} | " + (f"{a['mbps']:,.0f} | " if big else "") +
                     f"{fmt_ms(a['p50'])} | {fmt_ms(a['p99'])} | {cpu} | {nc} | {vs} | {rr} | {cr} | {err} |")
        spread = ", ".join(f"{k} {a['spread'][0]:,.0f}–{a['spread'][1]:,.0f}" for k, a in agg.items())
        paired = paired_ratios(rows)
        if paired:
            L.append("\nPaired ratios (each round's maitred req/s over the same round's reference; median, "
                     "quartiles, every round): " + "; ".join(paired) + ".")
        foreign = max(r.get("foreign", 0) for runs in rows.values() for r in runs)
        L.append(f"\n<sub>req/s range over rounds: {spread}. Most CPU used by other processes during a kept "
                 f"run: {foreign:.2f} cores.</sub>\n")
    if idle:
        n = args.idle_conns
        L.append(f"### 5 · memory: {n:,} idle keep-alive client connections, 1 worker\n")
        L.append("Each connection sent one request, got its answer, and stays open; RSS is the balancer's whole "
                 "process tree (VmRSS), measured after a warm-up and again with the connections held.\n")
        L.append("| system | RSS before (MiB) | RSS with idle conns (MiB) | bytes per idle conn | vs nginx | "
                 "connections ok / failed |")
        L.append("|---|---:|---:|---:|---:|---|")
        ref = idle.get("nginx", {}).get("per_conn")
        for kind in ("maitred", "nginx", "haproxy"):
            if kind not in idle:
                continue
            a = idle[kind]
            flag = "" if a["failed"] == 0 else " ⚠"
            L.append(f"| {LABEL[kind] if kind != 'nginx' else 'nginx (tuned)'} | {a['before'] / 1024:.1f} | "
                     f"{a['after'] / 1024:.1f} | {a['per_conn']:,.0f} | "
                     f"{a['per_conn'] / ref:.2f} | {a['ok']} / {a['failed']}{flag} |" if ref else "")
        L.append("")
    if stream:
        size = args.stream_bytes
        L.append(f"### 6 · streamed {size / 2**30:g} GiB download and upload, 1 worker\n")
        L.append("`curl -o /dev/null` for the download; `head -c N /dev/zero | curl -T -` (chunked) for the "
                 "upload, which the backend discards and answers with the byte count. Peak RSS is VmHWM summed "
                 "over the balancer's process tree after both transfers.\n")
        L.append("| system | download MB/s | upload MB/s | peak RSS (MiB) | complete |")
        L.append("|---|---:|---:|---:|---|")
        for kind in ("maitred", "nginx", "haproxy", "direct"):
            if kind not in stream:
                continue
            a = stream[kind]
            ok = "yes" if a["dl_ok"] and a["up_ok"] else f"⚠ download {a['dl']}, upload {a['up']}"
            hwm = f"{a['hwm'] / 1024:.1f}" if kind != "direct" else "– (backend)"
            L.append(f"| {LABEL[kind] if kind != 'nginx' else 'nginx (tuned)'} | {size / a['dl_s'] / 1e6:,.0f} | "
                     f"{size / a['up_s'] / 1e6:,.0f} | {hwm} | {ok} |")
        L.append("")
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------- main

def main():
    global DIRECT_PID
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1 round, 3 s runs, 1,000 idle conns, 1 GiB stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--idle-conns", type=int, default=10000)
    ap.add_argument("--stream-bytes", type=int, default=10 * 2**30)
    ap.add_argument("--only", default="123456", help="scenario digits to run, e.g. 15")
    ap.add_argument("--cells", default="", help="throughput cell ids to keep, e.g. s1-c256 (default: all)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="systems to run in throughput cells, e.g. maitred-article,nginx-article")
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "latest.md"))
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration, args.idle_conns, args.stream_bytes = 1, 3, 1000, 2**30
        if args.out == os.path.join(BENCH, "results", "latest.md"):
            args.out = os.path.join(WORK, "quick.md")   # development output, not committed
    if args.only != "123456" and args.out == os.path.join(BENCH, "results", "latest.md"):
        args.out = os.path.join(WORK, "partial.md")     # a partial run never replaces the full results

    os.makedirs(WORK, exist_ok=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < args.idle_conns + 1000:
        log(f"open-file limit {hard} is too low for {args.idle_conns} idle connections")
        args.idle_conns = hard - 1000

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    started_at = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    thr, idle, stream, cells = {}, {}, {}, []
    try:
        for p in BACKEND_PORTS + sorted(set(PORTS.values())):   # backends, direct and every balancer
            ensure_port_free(p)
        for p in BACKEND_PORTS:
            BACKEND_PIDS.append(spawn([BACKEND, str(p)], CLIENT_CPU, "backend.log").pid)
        DIRECT_PID = spawn([BACKEND, str(DIRECT_PORT)], BALANCER_CPU, "backend.log").pid
        BACKEND_PIDS.append(DIRECT_PID)
        for p in BACKEND_PORTS + [DIRECT_PORT]:
            wait_http(p)
        if any(c in args.only for c in "1234"):
            cells = [c for c in throughput_cells() if c[0][1] in args.only]
            if args.cells:
                cells = [c for c in cells if c[0] in args.cells.split(",")]
            systems = [k for k in args.systems.split(",") if k]
            unknown = [k for k in systems if k not in SYSTEMS]
            if unknown:
                raise SystemExit(f"unknown systems {unknown}: choose from {SYSTEMS}")
            run_throughput(cells, args.rounds, args.duration, args.warmup, thr, systems)
        if "5" in args.only:
            run_idle(args.idle_conns, idle)
        if "6" in args.only:
            run_stream(args.stream_bytes, stream)
    finally:
        for p in list(reversed(started)):
            stop(p)
    md = report(args, cells, thr, idle, stream, started_at, time.time() - t0)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(md)
    print(md)
    log(f"written to {args.out}")


if __name__ == "__main__":
    main()
