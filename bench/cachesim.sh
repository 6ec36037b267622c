#!/usr/bin/env bash
# Instructions and simulated cache misses per keep-alive request, maitred against nginx, under the same load:
#   bench/cachesim.sh MAITRED_BINARY [CLIENTS]        (default 256 clients; docs/performance.md reads it)
# Each balancer in front of one bench/backend.c, under `valgrind --tool=callgrind --cache-sim=yes` with a 512 KiB
# last-level cache (the per-core L2 of this machine's EPYC; valgrind's default would be the whole shared L3), so
# that what a request touches beyond one core's cache shows as LL misses. 3,000 warm-up GETs, then exactly 4,000
# measured ones over CLIENTS connections, one in flight on each (bench/concurrent_client.py). The pool is larger
# than the client count on both sides (`keepalive 1024`): under valgrind a balancer is ~50x slower than the
# backend, which changes how often `keepalive 32` must connect, and this measures the request path, not connects.
# nginx runs with `master_process off` so that valgrind sees the worker. Prints one line per system: Ir, I1 misses
# (instruction fetch), D1 misses (reads + writes) and LL misses (reads + writes), each per request.
# Needs valgrind and nginx (apt-get install valgrind nginx). Stops what it starts by PID.
set -euo pipefail
BIN=$1
CLIENTS=${2:-256}
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/valgrind_setup.sh"
common=(
    "worker_processes 1;"
    "events { worker_connections 4000; }"
    "http {"
    "    access_log off;"
    "    upstream app { server 127.0.0.1:18101; keepalive 1024; }"
    "    server { listen 127.0.0.1:18190; location / {"
    "        proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
    "}"
)
printf '%s\n' "pid $W/m.pid;" "error_log $W/m.log warn;" "${common[@]}" > "$W/maitred.conf"
printf '%s\n' "daemon off;" "master_process off;" "pid $W/n.pid;" "error_log $W/n.log warn;" "${common[@]}" \
    > "$W/nginx.conf"
"$W/backend" 18101 &
BP=$!

measure() {     # NAME COMMAND...
    local name=$1
    shift
    valgrind --tool=callgrind --cache-sim=yes --LL=524288,8,64 --instr-atstart=no \
        --callgrind-out-file="$W/$name.%p" "$@" 2>"$W/$name.vg" &
    VP=$!
    for _ in $(seq 1 150); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', 18190)).close()" 2>/dev/null && break
        sleep 0.2
    done
    python3 "$HERE/concurrent_client.py" 18190 4000 "$CLIENTS" 3000 "$VP"
    callgrind_control -d "$VP" >/dev/null 2>&1
    sleep 1
    kill "$VP"
    wait "$VP" 2>/dev/null || true
    VP=""
    local f
    f=$(ls -S "$W/$name".* | grep -v '\.vg$' | head -1)
    # PROGRAM TOTALS: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    callgrind_annotate "$f" 2>/dev/null | grep "PROGRAM TOTALS" | tr -d ',' | awk -v n="$name" -v c="$CLIENTS" '{
        for (i = 1; i <= NF; i++) if ($i ~ /^\(/) $i = ""
        $0 = $0; printf "%-8s %d clients: %6.0f instructions, %5.0f I1 misses, %4.0f D1 misses, %4.0f LL misses per request\n",
            n, c, $1 / 4000, $4 / 4000, ($5 + $6) / 4000, ($7 + $8 + $9) / 4000 }'
}
measure maitred "$W/maitred" -c "$W/maitred.conf"
measure nginx nginx -c "$W/nginx.conf"
