import Foundation
import MaitreBalancing
import MaitreProxy
import XCTest

/// `slow_start=2s` on real sockets: a server the operator brings back `up` gets a small share of requests at first
/// and half of them (equal weights) once the 2 s ramp is over.
final class SlowStartIntegrationTests: ProxyTestCase {
    func testTheRampIsVisibleInTheSharesOverTime() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness("""
            http {
                upstream app { server \(a.address); server \(b.address) slow_start=2s; }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; }
                }
            }
            """)
        let registry = try XCTUnwrap(harness).server.registry
        let identityB = try XCTUnwrap(try waitBounded(registry.peers()).first { $0.identity.address == b.address }?.identity)
        try waitBounded(registry.setAdminState(.down, for: identityB))
        var client = try XCTUnwrap(harness).client()
        for _ in 0..<20 { XCTAssertEqual(try client.request("GET", "/").header("X-Backend"), "a") }

        try waitBounded(registry.setAdminState(.up, for: identityB))
        let start = Date()
        var samples: [(seconds: Double, backend: String)] = []
        while Date().timeIntervalSince(start) < 3.0, samples.count < 200_000 {
            let response = try client.request("GET", "/")
            XCTAssertEqual(response.status, 200)
            samples.append((Date().timeIntervalSince(start), response.header("X-Backend") ?? "?"))
            // keepalive_requests (1000) ends the connection now and then.
            if response.header("Connection")?.lowercased() == "close" { client = try XCTUnwrap(harness).client() }
        }
        func shareOfB(_ range: Range<Double>) -> Double {
            let window = samples.filter { range.contains($0.seconds) }
            return Double(window.filter { $0.backend == "b" }.count) / Double(max(1, window.count))
        }
        let first = shareOfB(0..<0.4), middle = shareOfB(0.9..<1.1), last = shareOfB(2.2..<3.0)
        print("slow_start shares of b: first 0.4 s \(first), around 1 s \(middle), after the ramp \(last)")
        XCTAssertLessThan(first, 0.15, "b just came back: a small share")
        XCTAssertLessThan(first, middle, "the share grows")
        XCTAssertEqual(middle, 1.0 / 3.0, accuracy: 0.1, "half way through the ramp: weights 1 and 0.5")
        XCTAssertEqual(last, 0.5, accuracy: 0.05, "ramp over: equal weights, equal shares")
    }
}
