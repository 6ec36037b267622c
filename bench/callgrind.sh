#!/usr/bin/env bash
# Instructions per keep-alive request, as docs/performance.md measures them:
#   bench/callgrind.sh MAITRED_BINARY [LOGGING]
# LOGGING replaces the default `access_log off;` in the http block (e.g. the article's log_format and an
# access_log line) to measure what logging costs.
# maitred (symbols stripped: valgrind 3.19 cannot read Swift's DWARF 5) with the article's keepalive 32 in front of
# one bench/backend.c; 500 warm-up GETs, then instrumentation on for exactly 2,000 keep-alive GETs over 10
# connections; prints total Ir / 2,000. Needs valgrind (apt-get install valgrind). Stops what it starts by PID.
# CALLGRIND_OUT=FILE keeps the profile (for callgrind_annotate); KEEP_DEBUG_INFO=1 skips the strip, for a binary
# built with `-Xswiftc -g -Xswiftc -dwarf-version=4` whose lines valgrind can read.
set -euo pipefail
BIN=$1
LOGGING=${2:-access_log off;}
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/valgrind_setup.sh"
printf '%s\n' \
    "worker_processes 1;" \
    "pid $W/m.pid;" \
    "error_log $W/e.log warn;" \
    "events { worker_connections 2000; }" \
    "http {" \
    "    ${LOGGING//\$W/$W}" \
    "    upstream app { server 127.0.0.1:18101; keepalive 32; }" \
    "    server { listen 127.0.0.1:18190; location / { proxy_pass http://app; } }" \
    "}" > "$W/m.conf"
"$W/backend" 18101 &
BP=$!
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$W/out.%p" "$W/maitred" -c "$W/m.conf" \
    2>"$W/vg.log" &
VP=$!
for _ in $(seq 1 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', 18190)).close()" 2>/dev/null && break
    sleep 0.2
done
python3 "$HERE/keepalive_client.py" 18190 500
callgrind_control -i on "$VP" >/dev/null
python3 "$HERE/keepalive_client.py" 18190 2000
callgrind_control -i off "$VP" >/dev/null
callgrind_control -d "$VP" >/dev/null
sleep 1
f=$(ls -S "$W"/out.* | head -1)
[ -n "${CALLGRIND_OUT:-}" ] && cp "$f" "$CALLGRIND_OUT"
callgrind_annotate "$f" 2>/dev/null | grep "PROGRAM TOTALS" \
    | awk '{gsub(",", "", $1); printf "%.0f instructions/request\n", $1 / 2000}'
