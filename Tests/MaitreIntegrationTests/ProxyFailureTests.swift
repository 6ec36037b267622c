import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// Failures as clients see them over real sockets: error answers, broken upstreams, failover and backups.
final class ProxyFailureTests: ProxyTestCase {
    /// A closed upstream port answers 502; a malformed request 400; a too large body 413.
    func testErrorAnswers() throws {
        let dead = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                upstream dead { server 127.0.0.1:\(dead); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_max_body_size 1k;
                    location / { proxy_pass http://dead; }
                }
            }
            """)
        XCTAssertEqual(try harness!.get("/").status, 502)
        let bad = try harness!.client()
        try bad.send("GARBAGE\r\n\r\n")
        XCTAssertEqual(try bad.readResponse().status, 400)
        let big = try harness!.client()
        let r = try big.request("POST", "/", body: String(repeating: "x", count: 2048))
        XCTAssertEqual(r.status, 413)
        let noHost = try harness!.client()
        XCTAssertEqual(try noHost.request("GET", "/", host: nil).status, 400)
    }

    /// An upstream answering garbage is nginx's "invalid header" 502, and the proxy keeps serving.
    func testGarbageFromUpstreamIs502() throws {
        let garbage = try GarbageServer(reply: "this is not http\r\n\r\n")
        defer { garbage.stop() }
        harness = try ProxyHarness("""
            http { server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://127.0.0.1:\(garbage.port); } } }
            """)
        for _ in 0..<3 { XCTAssertEqual(try harness!.get("/").status, 502) }
    }

    /// A dead server (connection refused) is skipped: with the default proxy_next_upstream the request that met
    /// it goes on to the next server.
    func testConnectErrorTriesNextServer() throws {
        let alive = try TestBackend(name: "alive", group: group)
        backends = [alive]
        let dead = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                upstream pool { server 127.0.0.1:\(dead); server \(alive.address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        for _ in 0..<4 {
            let r = try harness!.get("/")
            XCTAssertEqual(r.status, 200)
            XCTAssertEqual(r.text, "alive\n")
        }
        XCTAssertEqual(alive.requests, 4)
    }

    /// One failure with max_fails=1 marks the dead server failed for fail_timeout: with `proxy_next_upstream off`
    /// the request that met it gets 502, and every later one goes straight to the live server. Without the mark,
    /// round robin would hand every second request to the dead server again (502s), as the control with
    /// max_fails=0 (no failure accounting) shows.
    func testDeadServerIsMarkedFailed() throws {
        let alive = try TestBackend(name: "alive", group: group)
        backends = [alive]
        let dead = try freeLoopbackPort()
        func statuses(maxFails: Int) throws -> [Int] {
            let harness = try ProxyHarness("""
                http {
                    upstream pool {
                        server 127.0.0.1:\(dead) max_fails=\(maxFails) fail_timeout=30s;
                        server \(alive.address);
                    }
                    server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; proxy_next_upstream off; } }
                }
                """)
            defer { harness.stop() }
            return try (0..<8).map { _ in try harness.get("/").status }
        }
        // Equal weights: round robin starts with the first server, the dead one.
        XCTAssertEqual(try statuses(maxFails: 1), [502, 200, 200, 200, 200, 200, 200, 200],
                       "after one failure the dead server is skipped for fail_timeout")
        XCTAssertEqual(try statuses(maxFails: 0), [502, 200, 502, 200, 502, 200, 502, 200],
                       "control: with max_fails=0 nothing is marked and round robin keeps returning to it")
    }

    /// backup servers take traffic only when every primary is down.
    func testBackupUsedOnlyWhenPrimariesFail() throws {
        let primary = try TestBackend(name: "primary", group: group)
        let backup = try TestBackend(name: "backup", group: group)
        backends = [primary, backup]
        harness = try ProxyHarness("""
            http {
                upstream pool { server \(primary.address); server \(backup.address) backup; }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; } }
            }
            """)
        for _ in 0..<3 { XCTAssertEqual(try harness!.get("/").text, "primary\n") }
        primary.stop()
        for _ in 0..<3 { XCTAssertEqual(try harness!.get("/").text, "backup\n") }
    }

    /// An HTTP/1.0 close-delimited upstream response reaches an HTTP/1.1 client chunked.
    func testCloseDelimitedResponseIsRechunked() throws {
        let old = try TestBackend(name: "old", group: group, http10: true)
        backends = [old]
        harness = try ProxyHarness("""
            http { server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://\(old.address); } } }
            """)
        let client = try harness!.client()
        let r = try client.request("GET", "/")
        XCTAssertEqual(r.text, "old\n")
        XCTAssertEqual(r.header("transfer-encoding"), "chunked")
        XCTAssertEqual(try client.request("GET", "/").text, "old\n")
    }

    /// `return` answers locally with nginx's semantics for text and redirects.
    func testReturnDirective() throws {
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location = /health { return 200 "ok $remote_addr"; }
                    location /old { return 301 http://example.com$request_uri; }
                    location / { return 404; }
                }
            }
            """)
        let ok = try harness!.get("/health")
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.text, "ok 127.0.0.1")
        let moved = try harness!.get("/old/x")
        XCTAssertEqual(moved.status, 301)
        XCTAssertEqual(moved.header("location"), "http://example.com/old/x")
        XCTAssertEqual(try harness!.get("/nothing").status, 404)
    }
}
