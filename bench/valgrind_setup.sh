# Sourced by bench/callgrind.sh and bench/cachesim.sh after `BIN` and `HERE` are set: a scratch folder $W, the
# bench backend compiled into it, $BIN copied to $W/maitred (debug info stripped unless KEEP_DEBUG_INFO=1:
# valgrind 3.19 cannot read Swift's DWARF 5), and an exit trap that stops the valgrind ($VP) and backend ($BP)
# processes by PID and removes $W.
W=$(mktemp -d "/tmp/maitre-$(basename "$0" .sh)-XXXXXX")
VP=""
BP=""
cleanup() {
    [ -n "$VP" ] && kill "$VP" 2>/dev/null || true
    [ -n "$BP" ] && kill "$BP" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
gcc -O2 -o "$W/backend" "$HERE/backend.c"
cp "$BIN" "$W/maitred"
[ -n "${KEEP_DEBUG_INFO:-}" ] || strip -g "$W/maitred"
