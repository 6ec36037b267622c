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

    /// An upstream that reads the request and closes without answering: nginx's `error` after the request was
    /// sent. With the default `proxy_next_upstream error timeout`, a GET moves to the next server and a POST does
    /// not (it is not idempotent) unless `non_idempotent` is listed.
    func testGetIsRetriedAndPostIsNotUnlessNonIdempotent() throws {
        let closer = try ScriptedBackend(group: group) { _ in [.close] }
        defer { closer.stop() }
        let good = try TestBackend(name: "good", group: group)
        backends = [good]
        func start(_ nextUpstream: String) throws {
            harness?.stop()
            harness = try ProxyHarness("""
                http {
                    upstream app { server \(closer.address) max_fails=0; server \(good.address); }
                    server {
                        listen 127.0.0.1:PROXY_PORT;
                        location / { proxy_pass http://app; \(nextUpstream) }
                    }
                }
                """)
        }
        try start("")
        // Smooth round robin starts with the first server: a fresh configuration's first request meets the closer.
        XCTAssertEqual(try harness!.get("/get").status, 200, "GET moves on to the next server")
        try start("")  // a fresh balancer: the POST's first attempt goes to the closer too
        let requestsBeforePost = closer.requests
        let post = try harness!.client().request("POST", "/post", body: "hi")
        XCTAssertEqual(post.status, 502, "a POST that reached the upstream is not sent again")
        XCTAssertEqual(good.requests, 1, "only the GET reached the good server")
        XCTAssertEqual(closer.requests, requestsBeforePost + 1)

        try start("proxy_next_upstream error timeout non_idempotent;")
        let retried = try harness!.client().request("POST", "/post", body: "hi")
        XCTAssertEqual(retried.status, 200, "non_idempotent lets the POST move on")
        XCTAssertEqual(good.requests, 2)
    }

    /// `proxy_next_upstream_tries 2`: two failed attempts end the request even though a third server would answer.
    func testNextUpstreamTriesStopsAtTwo() throws {
        let first = try ScriptedBackend(group: group) { _ in [.close] }
        let second = try ScriptedBackend(group: group) { _ in [.close] }
        defer { first.stop(); second.stop() }
        let good = try TestBackend(name: "good", group: group)
        backends = [good]
        harness = try ProxyHarness("""
            http {
                upstream app {
                    server \(first.address) max_fails=0; server \(second.address) max_fails=0; server \(good.address);
                }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://app; proxy_next_upstream_tries 2; }
                }
            }
            """)
        XCTAssertEqual(try harness!.get("/").status, 502)
        XCTAssertEqual(first.requests + second.requests, 2, "both failing servers were tried")
        XCTAssertEqual(good.requests, 0, "no third try")
    }
}
