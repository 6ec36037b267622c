import Foundation
import XCTest

/// The error log's lines for the usual upstream failures, in nginx's line format and words:
/// `2026/11/29 10:00:00 [error] PID#0: *N connect() failed (111: Connection refused) while connecting to upstream,
/// client: 127.0.0.1, server: example.com, request: "GET /x HTTP/1.1", upstream: "http://127.0.0.1:P/x", host: "h"`.
final class ErrorLogIntegrationTests: ProxyTestCase {
    func testUpstreamFailuresInNginxWords() throws {
        let slow = try TestBackend(name: "slow", group: group, delay: .milliseconds(600))
        backends = [slow]
        let dead = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                access_log off;
                upstream dead { server 127.0.0.1:\(dead); }
                upstream slow { server \(slow.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    server_name example.com;
                    location /dead { proxy_pass http://dead; }
                    location /slow { proxy_pass http://slow; proxy_read_timeout 200ms; }
                }
            }
            """, workers: 1, logFileLevel: .error)
        XCTAssertEqual(try harness!.get("/dead/a").status, 502)
        XCTAssertEqual(try harness!.get("/slow/b").status, 504)
        // The only server of `dead` failed once: with one server nginx keeps trying it (no "no live upstreams"),
        // so a second upstream with two dead servers shows that line.
        XCTAssertTrue(pollUntil(timeout: 5) { (readFile(self.harness!.errorLogPath) ?? "").split(separator: "\n").count >= 2 })
        let lines = (readFile(harness!.errorLogPath) ?? "").split(separator: "\n").map(String.init)
        let prefix = #"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} \[error\] \#(getpid())#0: \*\d+ "#
        let refused = try XCTUnwrap(lines.first { $0.contains("connect() failed") }, lines.joined(separator: "\n"))
        XCTAssertNotNil(refused.range(of: prefix + #"connect\(\) failed \(111: Connection refused\) while connecting to upstream, "#
            + #"client: 127\.0\.0\.1, server: example\.com, request: "GET /dead/a HTTP/1\.1", "#
            + #"upstream: "http://127\.0\.0\.1:\#(dead)/dead/a", host: "localhost"$"#, options: .regularExpression), refused)
        let timedOut = try XCTUnwrap(lines.first { $0.contains("timed out") }, lines.joined(separator: "\n"))
        XCTAssertNotNil(timedOut.range(of: prefix + #"upstream timed out \(110: Connection timed out\) while reading response header "#
            + #"from upstream, client: 127\.0\.0\.1, server: example\.com, request: "GET /slow/b HTTP/1\.1", "#
            + #"upstream: "http://\#(slow.address)/slow/b", host: "localhost"$"#, options: .regularExpression), timedOut)
    }

    func testNoLiveUpstreams() throws {
        let deadA = try freeLoopbackPort()
        let deadB = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                access_log off;
                upstream pair { server 127.0.0.1:\(deadA); server 127.0.0.1:\(deadB); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    server_name example.com;
                    location / { proxy_pass http://pair; }
                }
            }
            """, workers: 1, logFileLevel: .error)
        XCTAssertEqual(try harness!.get("/one").status, 502)  // both refused: max_fails=1 takes both out
        XCTAssertEqual(try harness!.get("/two").status, 502)
        XCTAssertTrue(pollUntil(timeout: 5) { (readFile(self.harness!.errorLogPath) ?? "").contains("no live upstreams") })
        let lines = (readFile(harness!.errorLogPath) ?? "").split(separator: "\n").map(String.init)
        let none = try XCTUnwrap(lines.first { $0.contains("no live upstreams") })
        XCTAssertNotNil(none.range(of: #"\[error\] \d+#0: \*\d+ no live upstreams while connecting to upstream, "#
            + #"client: 127\.0\.0\.1, server: example\.com, request: "GET /two HTTP/1\.1", "#
            + #"upstream: "http://pair/two", host: "localhost"$"#, options: .regularExpression), none)
    }
}
