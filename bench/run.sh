#!/usr/bin/env bash
# Maitre benchmark suite: maitred vs nginx vs HAProxy vs direct, on loopback. See docs/performance.md.
#
#   bench/run.sh            full suite (3 interleaved rounds, 10,000 idle conns, 10 GiB stream), ~20-25 min
#   bench/run.sh --quick    1 round, 3 s runs, 1,000 idle conns, 1 GiB stream, ~6 min (for development)
#   bench/run.sh --l4       the L4 scenario (bench/l4.py): stream vs nginx stream vs HAProxy mode tcp, ~5 min
#   bench/run.sh --only 15  only scenarios 1 and 5, written to bench/results/tmp/partial.md
#                           (other bench.py options pass through: --rounds, --duration, --out ...)
#
# Writes bench/results/latest.md (quick: bench/results/tmp/quick.md, not committed); scratch files go to
# bench/results/tmp/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "$(id -u)" != 0 ]; then echo "run as root (apt-get, sysctl, taskset)" >&2; exit 1; fi

need=()
for tool in nginx:nginx haproxy:haproxy wrk:wrk curl:curl gcc:gcc taskset:util-linux; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The production build (scripts/build-release.sh, as the README builds it), serialized with every other Swift
# build on this machine.
flock /tmp/maitre-build.lock "$ROOT/scripts/build-release.sh"

mkdir -p bench/results/tmp
# Snapshot the binary (and what it was built from): another release build during the run must not swap it.
cp .build-release/release/maitred bench/results/tmp/maitred
{
    echo "git $(git rev-parse --short HEAD)"
    git status --porcelain -- Sources Package.swift | sed 's/^/modified /'
} > bench/results/tmp/maitred.build
gcc -O2 -Wall -Wextra -o bench/results/tmp/backend bench/backend.c
gcc -O2 -Wall -Wextra -o bench/results/tmp/tcp_echo bench/tcp_echo.c

# Loopback only. Connection: close at ~10k conn/s needs more ephemeral ports than the default range gives
# over a run (TIME_WAIT); our listeners sit on 18000-18085, below the range. Restored on exit.
old_range=$(sysctl -n net.ipv4.ip_local_port_range)
old_reuse=$(sysctl -n net.ipv4.tcp_tw_reuse)
restore() { sysctl -q -w net.ipv4.ip_local_port_range="$old_range" net.ipv4.tcp_tw_reuse="$old_reuse" || true; }
trap restore EXIT
sysctl -q -w net.ipv4.ip_local_port_range="20000 65000" net.ipv4.tcp_tw_reuse=1 || true

ulimit -n "$(ulimit -Hn)"
if [ "${1:-}" = "--l4" ]; then
    shift
    # nginx's stream module is a separate Debian package.
    if [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libnginx-mod-stream
    fi
    exec python3 bench/l4.py "$@"
fi
python3 bench/bench.py "$@"
