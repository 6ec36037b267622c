#!/usr/bin/env bash
# CPU per request of two or more maitred builds, run alternately with the same configuration:
#   bench/builds.sh ROUNDS CLIENTS BINARY...      e.g. bench/builds.sh 6 256 old/maitred .build-release/release/maitred
# Each round starts every binary fresh, in turn (pinned to CPU 0; wrk and three bench/backend.c on CPU 1, as
# bench/run.sh pins them), with the article's `keepalive 32` configuration that bench/bench.py writes for the
# maitred-article row; a 2 s wrk warm-up, then a 6 s `wrk -t2 -cCLIENTS` run during which the process's utime and
# stime (/proc/PID/stat) are read. Prints one line per run (req/s, user and system ns per request) and, per binary,
# the median over rounds. Figures from one round alone mean little on a VM: compare medians over several rounds.
# Uses ports 18001-18003 and 18085 (refuses when one is taken); stops everything it starts by PID.
set -euo pipefail
ROUNDS=$1
CLIENTS=$2
shift 2
HERE="$(cd "$(dirname "$0")" && pwd)"
for port in 18001 18002 18003 18085; do
    if ss -ltn | awk '{print $4}' | grep -q ":$port\$"; then
        echo "port $port is taken" >&2
        exit 1
    fi
done
W=$(mktemp -d /tmp/maitre-builds-XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
gcc -O2 -o "$W/backend" "$HERE/backend.c"
for port in 18001 18002 18003; do
    taskset -c 1 "$W/backend" "$port" &
    PIDS+=($!)
done
CONF=$(cd "$HERE" && python3 -c "import bench; bench.WORK = '$W'; print(bench.proxy_conf('maitred-article', 1, 'm')[1])")

declare -A RUNS
tick_ns=$((1000000000 / $(getconf CLK_TCK)))
for round in $(seq 1 "$ROUNDS"); do
    for bin in "$@"; do
        taskset -c 0 "$bin" -c "$CONF" &
        P=$!
        for _ in $(seq 1 50); do
            python3 -c "import socket; socket.create_connection(('127.0.0.1', 18085)).close()" 2>/dev/null && break
            sleep 0.1
        done
        taskset -c 1 wrk -t2 -c"$CLIENTS" -d2s http://127.0.0.1:18085/ >/dev/null
        read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$P/stat")
        taskset -c 1 wrk -t2 -c"$CLIENTS" -d6s http://127.0.0.1:18085/ > "$W/wrk.txt"
        read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$P/stat")
        kill "$P"
        wait "$P" 2>/dev/null || true
        n=$(awk '/requests in/ {print $1}' "$W/wrk.txt")
        rps=$(awk '/Requests\/sec/ {print $2}' "$W/wrk.txt")
        user=$(( (u1 - u0) * tick_ns / n ))
        sys=$(( (s1 - s0) * tick_ns / n ))
        echo "round $round $bin: $rps req/s, user $user ns, system $sys ns per request"
        RUNS[$bin]+="$rps $user $sys,"
    done
done
for bin in "$@"; do
    python3 - "$bin" "${RUNS[$bin]}" <<'EOF'
import statistics, sys
runs = [tuple(float(x) for x in r.split()) for r in sys.argv[2].split(",") if r]
med = [statistics.median(col) for col in zip(*runs)]
print(f"median {sys.argv[1]}: {med[0]:.0f} req/s, user {med[1]:.0f} ns, system {med[2]:.0f} ns per request "
      f"({len(runs)} rounds)")
EOF
done
