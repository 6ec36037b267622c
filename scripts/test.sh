#!/usr/bin/env bash
# Installs what the tests need and runs them. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    # curl is what the README's demo instructions use; chromium loads the status page in StatusPageBrowserTests;
    # redis-server is the shared store `sticky learn … sync` is tested against (StickySyncIntegrationTests
    # start their own servers on free loopback ports; the package's own service is not used).
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl chromium redis-server >/dev/null
fi

swift build --build-tests
# Every test bounds its own waits; this bounds the whole run so a wedge fails CI instead of hanging it.
# All tests are XCTest: --disable-swift-testing keeps the last line the real count.
timeout --signal=KILL 1200 swift test --skip-build --disable-swift-testing
