import Foundation
import NIOCore
import NIOPosix
import XCTest

/// proxy_next_upstream on statuses, over real sockets: refused answers never reach the client, and the last
/// peer's own answer does.
final class RetryIntegrationTests: ProxyTestCase {
    func testStatusRetryPassesTheLastPeersAnswerOn() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        backends = [a, b]
        harness = try ProxyHarness("""
            http {
                upstream app { server \(a.address); server \(b.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; proxy_next_upstream error http_502; }
                }
            }
            """)
        let client = try harness!.client()
        let response = try client.request("GET", "/status/502")
        XCTAssertEqual(response.status, 502)
        // Both peers were asked; the client got the second one's body, not the first one's nor a page of ours.
        XCTAssertEqual(a.requests + b.requests, 2)
        XCTAssertTrue(response.text == "a\n" || response.text == "b\n", response.text)
        XCTAssertEqual(response.header("x-backend").map { $0 + "\n" }, response.text, "head and body of one answer")
        // The connection stays usable: the refused answer's body did not leak into it.
        XCTAssertEqual(try client.request("GET", "/ok").status, 200)
    }
}
