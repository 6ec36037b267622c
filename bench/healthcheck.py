#!/usr/bin/env python3
"""Detection time of a dead backend: maitred's active checks against nginx's passive health alone.

    python3 bench/healthcheck.py MAITRED_BINARY

Three backends (bench/backend.c) behind one balancer, `wrk -t1 -c8` for the whole run; 3 s in, the third backend
is killed. The balancer's error log is read as it grows: every `connect() failed ... upstream: "http://DEAD..."`
line is a request the request path still routed to the dead backend, stamped when the line appeared (about 10 ms
resolution). Reported per row: the last such line after the kill (the detection time: from death to the last
request routed to it), how many there were, and the client-visible errors (wrk's non-2xx + socket errors).

Rows: maitred with `check interval=3000 fall=5` and with `check interval=500 fall=2` (type=tcp, `max_fails=0` so
only the active check takes the server out; `default_down=false` so the run starts with every server up), and
nginx with its defaults (passive only: `max_fails=1 fail_timeout=10s`), which takes the server out at its first
failed request and sends it one request again every `fail_timeout`. Every process started is stopped by its PID;
every run is bounded (`wrk -d`).
"""
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import slowloris as S  # noqa: E402  (its process and port helpers)

wait_port = S.wait_port
PORTS = [18201, 18202, 18203]
LISTEN = 18290
procs = []


def start_backend(binary, port):
    p = subprocess.Popen(["taskset", "-c", "1", binary, str(port)], stdout=subprocess.DEVNULL)
    procs.append(p)
    wait_port(port)
    return p


def stop(p):
    S.stop(p)
    if p in procs:
        procs.remove(p)


def config(d, system, check):
    servers = " ".join(f"server 127.0.0.1:{p}{' max_fails=0' if system == 'maitred' else ''};" for p in PORTS)
    head = f"worker_processes 1;\npid {d}/{system}.pid;\nerror_log {d}/{system}.log error;\n"
    if system == "nginx":
        head += "daemon off;\n"
    access = "access_log off;"
    return head + f"""events {{ worker_connections 4096; }}
http {{
    {access}
    upstream app {{ {servers} {check} keepalive 32; }}
    server {{ listen 127.0.0.1:{LISTEN}; location / {{ proxy_pass http://app; }} }}
}}
"""


def follow(path, dead, kill_time, stamps, stop_flag):
    """Stamps (seconds after the kill) of error-log lines for requests routed to the dead backend."""
    while not os.path.exists(path) and not stop_flag.is_set():
        time.sleep(0.01)
    with open(path) as f:
        f.seek(0, os.SEEK_END)
        while not stop_flag.is_set():
            line = f.readline()
            if not line:
                time.sleep(0.01)
                continue
            if "connect() failed" in line and f":{dead}" in line and kill_time[0] is not None:
                stamps.append(time.monotonic() - kill_time[0])


def row(label, system, check, binary, backend, d, duration):
    conf = f"{d}/{system}.conf"
    open(conf, "w").write(config(d, system, check))
    log = f"{d}/{system}.log"
    if os.path.exists(log):
        os.remove(log)
    cmd = [binary, "-c", conf] if system == "maitred" else ["nginx", "-c", conf, "-p", d]
    balancer = subprocess.Popen(["taskset", "-c", "0"] + cmd)
    procs.append(balancer)
    wait_port(LISTEN)
    time.sleep(1.0)
    backends = [start_backend(backend, p) if i == 2 else None for i, p in enumerate(PORTS)]
    victim = backends[2]
    kill_time = [None]
    stamps = []
    stop_flag = threading.Event()
    reader = threading.Thread(target=follow, args=(log, PORTS[2], kill_time, stamps, stop_flag), daemon=True)
    reader.start()
    wrk = subprocess.Popen(["taskset", "-c", "1", "wrk", "-t1", "-c8", f"-d{duration}s",
                            f"http://127.0.0.1:{LISTEN}/"], stdout=subprocess.PIPE, text=True)
    time.sleep(3.0)
    kill_time[0] = time.monotonic()
    victim.kill()
    victim.wait()
    procs.remove(victim)
    out = wrk.communicate(timeout=duration + 60)[0]
    time.sleep(0.2)
    stop_flag.set()
    reader.join(timeout=2)
    stop(balancer)
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(int(x) for x in sock.groups()) if sock else 0)
    last = f"{stamps[-1] * 1000:.0f} ms" if stamps else "none"
    spread = ", ".join(f"{s:.1f}" for s in stamps[-6:])
    print(f"| {label} | {last} | {len(stamps)} | {errors} of {reqs} | {spread} |", flush=True)


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    maitred = os.path.abspath(sys.argv[1])
    d = tempfile.mkdtemp(prefix="maitre-hc-")
    backend = f"{d}/backend"
    subprocess.run(["gcc", "-O2", "-o", backend, f"{HERE}/backend.c"], check=True)
    others = [start_backend(backend, p) for p in PORTS[:2]]
    try:
        print("| balancer | last request routed to the dead backend, after its death | such requests | "
              "client errors | last stamps (s) |")
        print("|---|---:|---:|---:|---|")
        row("maitred `check interval=3000 fall=5`", "maitred",
            "check interval=3000 rise=2 fall=5 timeout=1000 default_down=false type=tcp;", maitred, backend, d, 30)
        row("maitred `check interval=500 fall=2`", "maitred",
            "check interval=500 rise=2 fall=2 timeout=1000 default_down=false type=tcp;", maitred, backend, d, 12)
        row("nginx passive only (`max_fails=1 fail_timeout=10s`)", "nginx", "", "nginx", backend, d, 30)
    finally:
        for p in list(procs):
            stop(p)
        for p in others:
            stop(p)


if __name__ == "__main__":
    main()
