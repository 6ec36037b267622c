import Foundation
import XCTest

/// `hash $request_uri consistent` over real sockets: every URI keeps its server across connections, event loops
/// and separate maitred instances (no shared state: the ring is a function of the server lines), and when a server
/// dies only its URIs move.
final class HashIntegrationTests: ProxyTestCase {
    private func config(_ backends: [TestBackend], kind: String) -> String {
        """
        http {
            access_log off;
            upstream app {
                hash $request_uri \(kind);
        \(backends.map { "        server \($0.address) max_fails=1 fail_timeout=30s;" }.joined(separator: "\n"))
            }
            server {
                listen 127.0.0.1:PROXY_PORT;
                location / { proxy_pass http://app; }
            }
        }
        """
    }

    func testURIsStickToTheirServerAcrossInstancesAndMoveOnlyWhenTheirServerDies() throws {
        try checkStickiness(kind: "consistent")
    }

    /// The same promises from maitred's `maglev` table.
    func testMaglevKeepsTheSamePromises() throws {
        try checkStickiness(kind: "maglev")
    }

    private func checkStickiness(kind: String) throws {
        let backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        self.backends = backends
        harness = try ProxyHarness(config(backends, kind: kind), workers: 2)
        let second = try ProxyHarness(config(backends, kind: kind), workers: 1)
        defer { second.stop() }
        let uris = (0..<30).map { "/item/\($0)" }
        func owners(_ proxy: ProxyHarness) throws -> [String] {
            try uris.map { try proxy.get($0).text }
        }
        let first = try owners(harness!)
        XCTAssertEqual(Set(first).count, 3, "30 URIs spread over the three servers: \(first)")
        XCTAssertEqual(try owners(harness!), first, "the same URI, a new connection, maybe another event loop")
        XCTAssertEqual(try owners(second), first, "another maitred agrees without talking to the first")
        let keepAlive = try harness!.client()
        for (uri, owner) in zip(uris, first) {
            XCTAssertEqual(try keepAlive.request("GET", uri).text, owner)
        }

        // b dies: its URIs move (the failed attempt retries on the next point's server), the others stay.
        backends[1].stop()
        let after = try owners(harness!)
        for (index, (before, now)) in zip(first, after).enumerated() {
            if before == "b\n" {
                XCTAssertNotEqual(now, "b\n", "\(uris[index]) left the dead server")
            } else {
                XCTAssertEqual(now, before, "\(uris[index]) stayed on its live server")
            }
        }
        XCTAssertEqual(try owners(harness!), after, "and stays on its new server while b is out")
    }
}

/// `hash $binary_remote_addr`: the proxy keys by the client's address bytes, so clients from different loopback
/// addresses land where nginx puts them (the same table the unit test checks).
final class BinaryAddressHashTests: ProxyTestCase {
    func testClientAddressesLandWhereNginxPutsThem() throws {
        let backends = try ["a", "b", "c"].map { try TestBackend(name: $0, group: group) }
        self.backends = backends
        // Weights 1, 2, 1 as in the fixture; which backend is which is by position, the ports being the test's own.
        harness = try ProxyHarness("""
            http {
                access_log off;
                upstream app {
                    hash $binary_remote_addr;
                    server \(backends[0].address);
                    server \(backends[1].address) weight=2;
                    server \(backends[2].address);
                }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://app; } }
            }
            """)
        let names = ["a\n", "b\n", "c\n"]
        // Plain hash walks weights in list order, whatever the addresses: the fixture's choices by position apply.
        let expected = [18503, 18502, 18502, 18502, 18502, 18503, 18501, 18503, 18501, 18502].map { names[$0 - 18501] }
        let got = try (1...10).map { try harness!.get("/", source: "127.0.0.\($0)").text }
        XCTAssertEqual(got, expected)
    }
}

/// `random two least_time=last_byte` over sockets: once the slow server has answered once, the fast one wins every
/// comparison (the proxy feeds each completed attempt's time to the balancer of its loop).
final class LeastTimeIntegrationTests: ProxyTestCase {
    func testTheSlowServerIsAvoidedAfterItsFirstAnswer() throws {
        let slow = try TestBackend(name: "slow", group: group, delay: .milliseconds(150))
        let fast = try TestBackend(name: "fast", group: group)
        backends = [slow, fast]
        harness = try ProxyHarness("""
            http {
                access_log off;
                upstream app { random two least_time=last_byte; server \(slow.address); server \(fast.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; }
                    location /api { api; }
                    location = /metrics { metrics; }
                }
            }
            """, workers: 1)
        let client = try harness!.client()
        for _ in 0..<40 { XCTAssertEqual(try client.request("GET", "/").status, 200) }
        // Each peer's score is on the API (and so the status page) and in the metrics.
        let upstream = try JSONSerialization.jsonObject(
            with: Data(try harness!.get("/api/9/http/upstreams/app").text.utf8)) as? [String: Any]
        let scores = (upstream?["peers"] as? [[String: Any]] ?? []).compactMap { $0["least_time_ms"] as? Double }
        XCTAssertEqual(scores.count, 2)
        if scores.count == 2 { XCTAssertGreaterThan(scores[0], 100, "slow: \(scores)"); XCTAssertLessThan(scores[1], 50) }
        XCTAssertTrue(try harness!.get("/metrics").text.contains("maitred_upstream_peer_least_time_seconds{upstream=\"app\""))
        XCTAssertEqual(slow.requests + fast.requests, 40)
        XCTAssertLessThanOrEqual(slow.requests, 2, "at most its first probe (both unknown) and one tie")
        XCTAssertGreaterThanOrEqual(fast.requests, 38)
    }

    /// nginx 1.31's `least_time header` (and `inflight`): the slow server is left once its answers are known,
    /// round robin tries it again only as its average halves after fail_timeout.
    func testOpenSourceLeastTimeAvoidsTheSlowServer() throws {
        for mode in ["header", "last_byte inflight"] {
            let slow = try TestBackend(name: "slow", group: group, delay: .milliseconds(150))
            let fast = try TestBackend(name: "fast", group: group)
            let proxy = try ProxyHarness("""
                http {
                    access_log off;
                    upstream app { least_time \(mode); server \(slow.address); server \(fast.address); }
                    server {
                        listen 127.0.0.1:PROXY_PORT;
                        location / { proxy_pass http://app; }
                        location /api { api; }
                    }
                }
                """, workers: 1)
            defer {
                proxy.stop()
                slow.stop()
                fast.stop()
            }
            let client = try proxy.client()
            for _ in 0..<30 { XCTAssertEqual(try client.request("GET", "/").status, 200) }
            XCTAssertEqual(slow.requests + fast.requests, 30)
            XCTAssertLessThanOrEqual(slow.requests, 2, "\(mode): only while both were unknown")
            let upstream = try JSONSerialization.jsonObject(
                with: Data(try proxy.get("/api/9/http/upstreams/app").text.utf8)) as? [String: Any]
            let scores = (upstream?["peers"] as? [[String: Any]] ?? []).compactMap { $0["least_time_ms"] as? Double }
            XCTAssertEqual(scores.count, 2, mode)
            if scores.count == 2 { XCTAssertGreaterThan(scores[0], 100, "\(mode): \(scores)") }
        }
    }
}
