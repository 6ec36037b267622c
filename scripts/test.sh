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
# The README's production build (whole-program LTO, the Swift runtime linked in, no exclusivity checks), and the
# process, reload, proxy, fuzz, timeout, balancing, health-check and stream tests run against that binary: what
# operators run is what is tested, not only the debug build.
./scripts/build-release.sh
production="MaitreIntegrationTests\.(ProcessTests|ReloadTests|ProxyFuzzTests|StreamFuzzTests|ProxyBehaviourTests"
production+="|ProxyFailureTests|TimeoutTests|BalancingIntegrationTests|HealthCheckIntegrationTests|RetryIntegrationTests"
production+="|StreamProxyTests|DatagramProxyTests)/"
MAITRED_BINARY="$PWD/.build-release/release/maitred" timeout --signal=KILL 600 \
    swift test --skip-build --disable-swift-testing --filter "$production"
# Every test bounds its own waits; this bounds the whole run so a wedge fails CI instead of hanging it.
# All tests are XCTest: --disable-swift-testing keeps the last line the real count.
timeout --signal=KILL 1200 swift test --skip-build --disable-swift-testing
