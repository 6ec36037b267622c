import Foundation
import MaitreConfig
import NIOCore
import NIOPosix
import XCTest

/// L7 proxying through real sockets: headers, routing, bodies, connection reuse and pipelining.
final class ProxyBehaviourTests: ProxyTestCase {
    /// The article's proxy_set_header lines reach the backend with the client's values.
    func testForwardedHeadersAsConfigured() throws {
        _ = try singleBackend(location: """
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            """)
        let r = try harness!.client(source: "127.0.3.4").request(
            "GET", "/headers?q=1", headers: [("X-Forwarded-For", "10.1.1.1"), ("Connection", "keep-alive, X-Drop"),
                                             ("X-Drop", "1"), ("TE", "trailers"), ("X-Keep", "yes")],
            host: "Example.COM:\(harness!.port)")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.text.hasPrefix("GET /headers?q=1 HTTP/1.1\n"), r.text)
        let h = headerLines(r)
        XCTAssertEqual(h["host"], "example.com")
        XCTAssertEqual(h["x-real-ip"], "127.0.3.4")
        XCTAssertEqual(h["x-forwarded-for"], "10.1.1.1, 127.0.3.4")
        XCTAssertEqual(h["x-forwarded-proto"], "http")
        XCTAssertEqual(h["x-keep"], "yes")
        XCTAssertNil(h["x-drop"], "headers named in Connection are hop-by-hop")
        XCTAssertNil(h["te"])
        XCTAssertNil(h["connection"], "nginx >= 1.29.7 sends no Connection header by default")
    }

    /// Request heads parsed from raw bytes reach the backend as nginx would send them: an absolute-form target in
    /// origin form, bare-LF lines accepted, names nginx ignores dropped, other values byte for byte; a pipelined
    /// second request on the same connection follows; a too-long request line gets 414.
    func testRawRequestHeadsOverSockets() throws {
        _ = try singleBackend()
        let client = try harness!.client()
        try client.send("GET http://example.com/headers?x=1 HTTP/1.1\nHost: example.com\nX_Under: 1\n"
                        + "X-Bytes:  a;b=\"c d\"  \nX-Keep: yes\n\nGET /headers HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try client.readResponse()
        XCTAssertEqual(first.status, 200)
        XCTAssertTrue(first.text.hasPrefix("GET /headers?x=1 HTTP/1.1\n"), first.text)
        let h = headerLines(first)
        XCTAssertNil(h["x_under"], "underscores_in_headers off: dropped")
        XCTAssertEqual(h["x-bytes"], "a;b=\"c d\"")
        XCTAssertEqual(h["x-keep"], "yes")
        let second = try client.readResponse()
        XCTAssertTrue(second.text.hasPrefix("GET /headers HTTP/1.1\n"), second.text)

        let long = try harness!.client()
        try long.send("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n")
        let refused = try long.readResponse()
        XCTAssertEqual(refused.status, 414)
        XCTAssertEqual(refused.header("connection"), "close")
    }

    /// Without proxy_set_header Host, the upstream sees $proxy_host (the upstream name), as nginx sends.
    func testDefaultHostIsProxyHost() throws {
        _ = try singleBackend()
        let r = try harness!.get("/headers")
        XCTAssertEqual(headerLines(r)["host"], "pool")
    }

    /// The article's L7 example: /api/ to one pool, everything else to another.
    func testLocationRoutingBetweenTwoPools() throws {
        let api = try TestBackend(name: "api", group: group)
        let web = try TestBackend(name: "web", group: group)
        backends = [api, web]
        harness = try ProxyHarness("""
            http {
                upstream api_servers { server \(api.address); }
                upstream web_servers { server \(web.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location /api/ { proxy_pass http://api_servers; }
                    location / { proxy_pass http://web_servers; }
                }
            }
            """)
        XCTAssertEqual(try harness!.get("/api/users").text, "api\n")
        XCTAssertEqual(try harness!.get("/apix").text, "web\n")
        XCTAssertEqual(try harness!.get("/").text, "web\n")
        XCTAssertEqual(api.lastHead?.uri, "/api/users")
    }

    /// proxy_pass with a URI part replaces the matched prefix, as nginx does.
    func testProxyPassURIReplacement() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location /name/ { proxy_pass http://\(backend.address)/remote/; }
                }
            }
            """)
        let r = try harness!.get("/name/x/y?z=1")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(backend.lastHead?.uri, "/remote/x/y?z=1")
    }

    /// Sequential requests over one client connection reuse one pooled upstream connection.
    func testUpstreamConnectionIsReused() throws {
        let backend = try singleBackend()
        let client = try harness!.client()
        for _ in 0..<20 { XCTAssertEqual(try client.request("GET", "/").status, 200) }
        // New client connections also take the pooled connection.
        for _ in 0..<5 { XCTAssertEqual(try harness!.get("/").status, 200) }
        XCTAssertEqual(backend.requests, 25)
        XCTAssertEqual(backend.acceptedConnections, 1)
    }

    /// nginx ≥ 1.29.7's default `keepalive 32 local`: an idle connection is reused only by the location that
    /// released it; an explicit `keepalive N` (no `local`) shares connections across locations.
    func testDefaultKeepaliveIsLocalToTheLocation() throws {
        let backend = try singleBackend("location /b/ { proxy_pass http://pool; }")
        let client = try harness!.client()
        for path in ["/", "/b/", "/", "/b/", "/", "/b/"] {
            XCTAssertEqual(try client.request("GET", path).status, 200)
        }
        XCTAssertEqual(backend.requests, 6)
        XCTAssertEqual(backend.acceptedConnections, 2, "one pooled connection per location")
    }

    func testExplicitKeepaliveSharesConnectionsAcrossLocations() throws {
        let backend = try singleBackend("location /b/ { proxy_pass http://pool; }", upstreamExtra: "keepalive 8;")
        let client = try harness!.client()
        for path in ["/", "/b/", "/", "/b/", "/", "/b/"] {
            XCTAssertEqual(try client.request("GET", path).status, 200)
        }
        XCTAssertEqual(backend.acceptedConnections, 1)
    }

    /// keepalive_requests closes a pooled connection after N requests; keepalive_timeout closes an idle one.
    func testUpstreamKeepaliveRequestsAndTimeout() throws {
        let backend = try singleBackend(upstreamExtra: "keepalive_requests 3; keepalive_timeout 300ms;")
        let client = try harness!.client()
        for _ in 0..<7 { XCTAssertEqual(try client.request("GET", "/").status, 200) }
        XCTAssertEqual(backend.acceptedConnections, 3)
        var open = backend.openConnections
        let deadline = Date().addingTimeInterval(5)
        while open > 0 && Date() < deadline {
            usleep(50_000)
            open = backend.openConnections
        }
        XCTAssertEqual(open, 0, "the idle pooled connection is closed after keepalive_timeout")
    }

    /// keepalive 0 turns pooling off: one upstream connection per request.
    func testKeepaliveZeroDisablesPooling() throws {
        let backend = try singleBackend(upstreamExtra: "keepalive 0;")
        let client = try harness!.client()
        for _ in 0..<5 { XCTAssertEqual(try client.request("GET", "/").status, 200) }
        XCTAssertEqual(backend.acceptedConnections, 5)
    }

    /// An upstream that keeps each connection alive for one response and then closes it by itself, 50 ms later
    /// (as an upstream with a short keep-alive timeout does): the idle pooled connection it closed is dropped,
    /// and the next request is served on a new connection.
    func testPooledConnectionClosedWhileIdleIsDropped() throws {
        let backend = try ScriptedBackend(group: group) { _ in
            [.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n".utf8)), .pause(50), .close]
        }
        defer { backend.stop() }
        harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; proxy_next_upstream off; } }
            }
            """)
        XCTAssertEqual(try harness!.get("/").text, "ok\n")
        // The upstream closed its side of the (now idle, pooled) connection.
        XCTAssertTrue(pollUntil(timeout: 5) { backend.acceptedConnections == 1 && backend.openConnections == 0 })
        let r = try harness!.get("/")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.text, "ok\n")
        XCTAssertEqual(backend.acceptedConnections, 2, "the second request needed a new upstream connection")
    }

    /// The race nginx retries for: the upstream closes a kept-alive connection just as the proxy sends the next
    /// request on it, so the proxy has taken the pooled connection before it can see the close. The backend here
    /// closes a connection, without answering, when a second request arrives on it: from the proxy's side that
    /// is exactly the race, made deterministic. The request taken by the dead pooled connection must be sent
    /// again on a fresh connection and succeed. `proxy_next_upstream off` and a single server leave the
    /// reused-connection retry as the only way to a 200; a POST already sent is not repeated (502).
    func testRequestOnStalePooledConnectionIsRetriedOnFreshOne() throws {
        let backend = try ScriptedBackend(group: group) { path, requestOnConnection in
            guard requestOnConnection == 0 else { return [.close] }
            let body = "fresh \(path)\n"
            return [.write(Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))]
        }
        defer { backend.stop() }
        harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address); }
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://pool; proxy_next_upstream off; } }
            }
            """)
        XCTAssertEqual(try harness!.get("/one").text, "fresh /one\n")
        XCTAssertEqual(backend.acceptedConnections, 1)
        XCTAssertEqual(backend.openConnections, 1, "the first upstream connection stays open, pooled")

        let second = try harness!.get("/two")
        XCTAssertEqual(second.status, 200, "a request on a stale pooled connection is retried")
        XCTAssertEqual(second.text, "fresh /two\n")
        // /one on the first connection, /two on it (closed unanswered), /two again on a second connection.
        XCTAssertEqual(backend.requests, 3, "the second request went out on the pooled connection first")
        XCTAssertEqual(backend.acceptedConnections, 2)

        // The second connection is pooled now; a POST sent on it meets the same close and is not repeated.
        let post = try harness!.client().request("POST", "/three", body: "x")
        XCTAssertEqual(post.status, 502, "a non-idempotent request already sent is not retried")
        XCTAssertEqual(backend.requests, 4)
        XCTAssertEqual(backend.acceptedConnections, 2)
    }

    /// Pipelined requests sent in one write come back in order.
    func testPipelinedRequestsAnswerInOrder() throws {
        let backend = try singleBackend()
        let client = try harness!.client()
        try client.send("GET /slow/100 HTTP/1.1\r\nHost: a\r\n\r\nGET /headers HTTP/1.1\r\nHost: b\r\n\r\nGET /x HTTP/1.1\r\nHost: c\r\n\r\n")
        let first = try client.readResponse()
        let second = try client.readResponse()
        let third = try client.readResponse()
        XCTAssertEqual(first.text, "only\n")
        XCTAssertTrue(second.text.hasPrefix("GET /headers"))
        XCTAssertEqual(third.text, "only\n")
        XCTAssertEqual(backend.heads.map(\.uri), ["/slow/100", "/headers", "/x"])
    }

    /// Pipelined requests mixing proxied ones, a local answer and a body keep their order and their bodies.
    func testPipelinedMixOfLocalProxiedAndBodies() throws {
        let backend = try TestBackend(name: "mix", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location = /local { return 200 "local"; }
                    location / { proxy_pass http://\(backend.address); }
                }
            }
            """)
        let client = try harness!.client()
        try client.send("GET /slow/50 HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz"
                        + "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                        + "GET /local HTTP/1.1\r\nHost: a\r\n\r\n"
                        + "GET /last HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(try client.readResponse().text, "mix\n")
        XCTAssertEqual(try client.readResponse().text, "local")
        XCTAssertTrue(try client.readResponse().text.hasPrefix("mix 5 "))
        XCTAssertEqual(try client.readResponse().text, "local")
        XCTAssertEqual(try client.readResponse().text, "mix\n")
        XCTAssertEqual(backend.heads.map(\.uri), ["/slow/50", "/upload", "/last"])
    }

    /// A 64 MiB response and a 64 MiB Content-Length upload stream through; chunked both ways too.
    func testLargeBodiesStreamBothWays() throws {
        _ = try singleBackend(location: "client_max_body_size 0;")
        let client = try harness!.client(timeoutSeconds: 60)
        try client.send("GET /bytes/\(64 << 20) HTTP/1.1\r\nHost: a\r\n\r\n")
        let download = try client.readResponse(keepBody: false)
        XCTAssertEqual(download.bodyLength, 64 << 20)

        let size = 64 << 20
        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
        try client.sendRepeated(byte: 7, count: size)
        let upload = try client.readResponse()
        XCTAssertEqual(upload.status, 200)
        XCTAssertTrue(upload.text.hasPrefix("only \(size) "), upload.text)

        try client.send("GET /bytes/300000?chunked HTTP/1.1\r\nHost: a\r\n\r\n")
        let chunkedDown = try client.readResponse()
        XCTAssertEqual(chunkedDown.bodyLength, 300000)
        XCTAssertEqual(chunkedDown.header("transfer-encoding"), "chunked")

        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        let chunkedUp = try client.readResponse()
        XCTAssertTrue(chunkedUp.text.hasPrefix("only 11 "), chunkedUp.text)
    }

    /// Expect: 100-continue gets an interim 100 before the body is sent.
    func testExpectContinue() throws {
        _ = try singleBackend()
        let client = try harness!.client()
        try client.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        let interim = try client.readInterimStatus()
        XCTAssertEqual(interim, 100)
        try client.send("abcd")
        let r = try client.readResponse()
        XCTAssertTrue(r.text.hasPrefix("only 4 "), r.text)
    }

    /// HEAD responses carry the upstream's length but no body; the connection stays usable.
    func testHeadIsFramedWithoutBody() throws {
        _ = try singleBackend()
        let client = try harness!.client()
        let head = try client.request("HEAD", "/")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("content-length"), "5")
        XCTAssertEqual(try client.request("GET", "/").text, "only\n")
        let noContent = try client.request("GET", "/status/204")
        XCTAssertEqual(noContent.status, 204)
        XCTAssertNil(noContent.header("transfer-encoding"))
        XCTAssertEqual(try client.request("GET", "/").text, "only\n")
    }
}
