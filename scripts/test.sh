#!/usr/bin/env bash
# Installs what the tests need and runs them. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # curl is what the README's demo instructions use; the tests themselves need only Swift.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl >/dev/null
fi

swift build --build-tests
swift test --skip-build
