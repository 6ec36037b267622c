import Foundation
import NIOCore
import NIOPosix
import XCTest

/// Reload as an operator lives it: under load, with new and keep-alive connections, nothing fails, keep-alive
/// connections move to the new configuration, and peer state that did not change is kept.
final class ReloadTests: ProxyTestCase {
    private func config(_ label: String, backend: TestBackend) -> String {
        """
        http {
            upstream app { server \(backend.address); keepalive 8; }
            server {
                listen 127.0.0.1:PROXY_PORT;
                keepalive_requests 1000000;  # kept connections must last the whole test
                location / { proxy_pass http://app; }
                location = /which { return 200 "\(label)"; }
            }
        }
        """
    }

    /// 20 reloads in 5 s while 4 threads open a connection per request and 4 keep theirs: no request fails,
    /// and every kept connection sees the configurations change without reconnecting.
    func testTwentyReloadsUnderLoadLoseNothing() throws {
        let first = try TestBackend(name: "first", group: group)
        let second = try TestBackend(name: "second", group: group)
        backends = [first, second]
        harness = try ProxyHarness(config("A", backend: first), workers: 2)
        let port = harness!.port
        let tally = LoadTally()
        let keptLabels = KeptClients(count: 4)

        let fresh = LoadThreads(count: 4, maxIterations: 100_000) { _, iteration in
            do {
                let client = try TestHTTPClient(port: port, timeoutSeconds: 5)
                let path = iteration % 2 == 0 ? "/which" : "/proxied"
                let r = try client.request("GET", path, headers: [("Connection", "close")])
                r.status == 200 ? tally.success(body: r.text) : tally.failure("fresh \(path): status \(r.status)")
            } catch {
                tally.failure("fresh: \(error)")
            }
        }
        let kept = LoadThreads(count: 4, maxIterations: 100_000) { thread, iteration in
            do {
                let client = try keptLabels.client(thread, port: port)
                let path = iteration % 2 == 0 ? "/which" : "/proxied"
                let r = try client.request("GET", path)
                guard r.status == 200 else {
                    tally.failure("kept \(path): status \(r.status)")
                    return
                }
                tally.success(body: r.text)
                if path == "/which" { keptLabels.saw(r.text, thread: thread) }
                if r.header("Connection")?.lowercased() == "close" { keptLabels.dropClient(thread) }
            } catch {
                tally.failure("kept: \(error)")
                keptLabels.dropClient(thread)
            }
        }

        for reload in 0..<20 {
            usleep(250_000)
            let even = reload % 2 == 0
            try harness!.reload(config(even ? "B" : "A", backend: even ? second : first))
        }
        usleep(250_000)
        XCTAssertTrue(fresh.stop(), "a fresh-connection thread did not finish")
        XCTAssertTrue(kept.stop(), "a keep-alive thread did not finish")

        let counts = tally.value
        XCTAssertEqual(counts.failed, 0, "failed requests: \(counts.failures)")
        XCTAssertGreaterThan(counts.succeeded, 400, "too little load to mean anything")
        XCTAssertGreaterThan(counts.bodies["first\n"] ?? 0, 0)
        XCTAssertGreaterThan(counts.bodies["second\n"] ?? 0, 0)
        for thread in 0..<4 {
            let labels = keptLabels.labels(thread)
            XCTAssertEqual(labels.reconnects, 0, "keep-alive thread \(thread) had to reconnect")
            XCTAssertEqual(labels.seen, ["A", "B"], "keep-alive thread \(thread) stayed on one configuration")
        }
    }

    /// A peer marked failed (max_fails=1 fail_timeout=60s) stays failed across a reload that does not change it,
    /// and starts fresh when the reload changes its parameters.
    func testPassiveFailureStateSurvivesUnchangedReload() throws {
        let live = try TestBackend(name: "live", group: group)
        backends = [live]
        let dead = try freeLoopbackPort()
        func config(deadWeight: Int) -> String {
            """
            http {
                upstream app {
                    server 127.0.0.1:\(dead) max_fails=1 fail_timeout=60s weight=\(deadWeight);
                    server \(live.address) weight=\(deadWeight);
                }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; proxy_next_upstream off; }
                }
            }
            """
        }
        harness = try ProxyHarness(config(deadWeight: 1))
        let client = try harness!.client()
        // Smooth round robin with equal weights tries the first server first: it fails once and is then disabled.
        XCTAssertEqual(try client.request("GET", "/").status, 502)
        for _ in 0..<6 { XCTAssertEqual(try client.request("GET", "/").status, 200) }

        try harness!.reload(config(deadWeight: 1))
        for _ in 0..<6 {
            XCTAssertEqual(try client.request("GET", "/").status, 200, "the failed peer was picked again after reload")
        }

        // Changed parameters make it another peer: it gets a fresh state and fails again once.
        try harness!.reload(config(deadWeight: 2))
        var statuses: [Int] = []
        for _ in 0..<6 { statuses.append(try client.request("GET", "/").status) }
        XCTAssertEqual(statuses.filter { $0 == 502 }.count, 1, "statuses after a changing reload: \(statuses)")
    }

    /// Idle upstream connections to peers that stay are carried into the new configuration's pool.
    func testIdleUpstreamConnectionsSurviveReload() throws {
        let backend = try TestBackend(name: "only", group: group)
        backends = [backend]
        harness = try ProxyHarness(config("A", backend: backend))
        let client = try harness!.client()
        XCTAssertEqual(try client.request("GET", "/a").status, 200)
        XCTAssertEqual(backend.acceptedConnections, 1)
        try harness!.reload(config("B", backend: backend))
        XCTAssertEqual(try client.request("GET", "/b").status, 200)
        XCTAssertEqual(try client.request("GET", "/which").text, "B")
        XCTAssertEqual(backend.acceptedConnections, 1, "the pooled connection was closed by the reload")
    }
}

/// Per-thread keep-alive clients and the `/which` labels each saw, for the reload test.
private final class KeptClients: @unchecked Sendable {
    struct Labels {
        var seen: Set<String> = []
        var reconnects = 0
    }

    private let lock = NSLock()
    private var clients: [TestHTTPClient?]
    private var labelsByThread: [Labels]

    init(count: Int) {
        clients = Array(repeating: nil, count: count)
        labelsByThread = Array(repeating: Labels(), count: count)
    }

    /// Only thread `index` uses entry `index`; the lock guards the arrays themselves.
    func client(_ index: Int, port: Int) throws -> TestHTTPClient {
        if let existing = lock.withLock({ clients[index] }) { return existing }
        let client = try TestHTTPClient(port: port, timeoutSeconds: 5)
        lock.withLock { clients[index] = client }
        return client
    }

    func dropClient(_ index: Int) {
        lock.withLock {
            clients[index] = nil
            labelsByThread[index].reconnects += 1
        }
    }

    func saw(_ label: String, thread: Int) {
        lock.withLock { _ = labelsByThread[thread].seen.insert(label) }
    }

    func labels(_ thread: Int) -> Labels { lock.withLock { labelsByThread[thread] } }
}
