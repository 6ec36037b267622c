#!/usr/bin/env bash
# The production build the README describes, into .build-release (dynamic exclusivity checks off in every module,
# SwiftNIO included; whole-program link-time optimisation; the Swift runtime linked in). One definition for
# scripts/test.sh (CI tests this binary) and bench/run.sh (which benchmarks it, under its build lock).
set -euo pipefail
cd "$(dirname "$0")/.."
exec swift build -c release -Xswiftc -enforce-exclusivity=unchecked --experimental-lto-mode=full \
    --static-swift-stdlib --product maitred --scratch-path .build-release
