import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// The upstream-side timers, driven by an EmbeddedEventLoop's virtual time: every timer reads its loop's clock
/// (`eventLoop.now`), so `loop.advanceTime(by:)` moves them and each deadline is checked to the millisecond, on
/// both sides of it. No sockets, no sleeps. The client-side timers are in ClientVirtualTimeTests.
final class VirtualTimeTests: EmbeddedProxyTestCase {
    /// A proxy whose `location /` passes to `upstream app { upstreamBody }`; `locationBody` adds directives there.
    private func makeProxy(upstream upstreamBody: String, location locationBody: String = "") throws -> EmbeddedProxy {
        try makeProxy("""
            http {
                upstream app { \(upstreamBody) }
                server {
                    listen 127.0.0.1:8080;
                    location / { proxy_pass http://app; \(locationBody) }
                }
            }
            """)
    }

    private static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"

    private func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n" }

    /// Asserts that `text` is a response with `status`; the message shows what came instead.
    private func assertStatus(_ text: String, _ status: Int, _ message: String = "",
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 \(status) "), "\(message) got: \(text.debugDescription)",
                      file: file, line: line)
    }

    // MARK: - keepalive_timeout (upstream pool)

    /// An idle pooled connection is still open and reused 1 ms before `keepalive_timeout`; a release restarts its
    /// idle time; once idle for the whole timeout it is closed and the next request connects anew.
    func testPooledConnectionClosesAfterKeepaliveTimeout() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001; keepalive 8; keepalive_timeout 5s;")
        let client = try proxy.connectClient()
        try client.receive(get("/1"))
        let upstream = try proxy.upstream(0)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /1 HTTP/1.1\r\n"))
        try upstream.receive(Self.ok)
        assertStatus(try client.sent(), 200)

        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertTrue(upstream.isActive, "idle for 4.999 s of a 5 s keepalive_timeout: still pooled")
        try client.receive(get("/2"))
        XCTAssertEqual(proxy.connector.channels.count, 1, "the pooled connection carries the second request")
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /2 HTTP/1.1\r\n"))
        try upstream.receive(Self.ok)
        assertStatus(try client.sent(), 200)

        // Idle since 4.999 s: the expiry set for 5 s finds it too young and waits for the rest.
        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertTrue(upstream.isActive, "idle for 4.999 s since its second release: still pooled")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(upstream.isActive, "idle for keepalive_timeout: closed")

        try client.receive(get("/3"))
        XCTAssertEqual(proxy.connector.channels.count, 2, "the expired connection is gone: a new one is opened")
        XCTAssertTrue(try proxy.upstream(1).sent().hasPrefix("GET /3 HTTP/1.1\r\n"))
    }

    // MARK: - keepalive_time (upstream connection lifetime)

    /// A connection younger than `keepalive_time` when its exchange ends goes back to the pool; one older is
    /// closed at release (nginx's `ngx_current_msec - c->start_time > keepalive_time`), and the next request
    /// connects anew.
    func testKeepaliveTimeStopsPoolingAnOldConnection() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001; keepalive 8; keepalive_time 10s;")
        let client = try proxy.connectClient()
        try client.receive(get("/1"))
        let upstream = try proxy.upstream(0)  // opened at 0 s
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /1 "))
        proxy.loop.advanceTime(by: .milliseconds(10_000))
        try upstream.receive(Self.ok)
        assertStatus(try client.sent(), 200)
        XCTAssertTrue(upstream.isActive, "exactly 10 s old at release: pooled (nginx closes only when older)")

        try client.receive(get("/2"))
        XCTAssertEqual(proxy.connector.channels.count, 1, "the young connection was pooled and is reused")
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /2 "))
        proxy.loop.advanceTime(by: .milliseconds(1))
        try upstream.receive(Self.ok)
        assertStatus(try client.sent(), 200, "the answer itself is unaffected")
        XCTAssertFalse(upstream.isActive, "10.001 s old at release: closed instead of pooled")

        try client.receive(get("/3"))
        XCTAssertEqual(proxy.connector.channels.count, 2)
        XCTAssertTrue(try proxy.upstream(1).sent().hasPrefix("GET /3 "))
    }

    // MARK: - proxy_read_timeout

    /// No byte of answer: 504 exactly at `proxy_read_timeout`, not 1 ms before, and the connection is closed.
    func testSilentUpstreamIs504AfterProxyReadTimeout() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001;", location: "proxy_read_timeout 10s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        let upstream = try proxy.upstream(0)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET / "))

        proxy.loop.advanceTime(by: .milliseconds(9_999))
        XCTAssertEqual(try client.sent(), "", "nothing before the timeout")
        XCTAssertTrue(upstream.isActive)
        proxy.loop.advanceTime(by: .milliseconds(1))
        assertStatus(try client.sent(), 504, "read timeout with no response byte sent")
        XCTAssertFalse(upstream.isActive, "a timed-out connection is closed, never pooled")
        XCTAssertEqual(proxy.connector.attempts, [0], "one server: no other to try")
        XCTAssertTrue(client.isActive, "a 504 keeps the client connection")
    }

    /// nginx's read timeout runs between two reads: a backend that sends a byte run every 6 s under a 10 s
    /// timeout finishes a 24 s response, and the client gets all of it.
    func testTrickledResponseOutlivesOneProxyReadTimeout() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001;", location: "proxy_read_timeout 10s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        let upstream = try proxy.upstream(0)
        for piece in ["HTTP/1.1 200 OK\r\n", "Content-Length: 4\r\n\r\n", "ab", "cd"] {
            proxy.loop.advanceTime(by: .seconds(6))
            let at = proxy.loop.now.uptimeNanoseconds / 1_000_000
            XCTAssertTrue(upstream.isActive, "at \(at) ms, 6 s since the last read: not timed out")
            try upstream.receive(piece)
        }
        let answer = try client.sent()
        assertStatus(answer, 200)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\nabcd"), answer)
        XCTAssertTrue(client.isActive)
    }

    /// A backend that stalls mid-body is cut off `proxy_read_timeout` after its last read, not after the request:
    /// the response is under way, so the client connection is closed (it cannot be told).
    func testStalledBodyIsCutOffReadTimeoutAfterTheLastRead() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001;", location: "proxy_read_timeout 10s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        let upstream = try proxy.upstream(0)
        proxy.loop.advanceTime(by: .seconds(6))
        try upstream.receive("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
        proxy.loop.advanceTime(by: .seconds(6))
        try upstream.receive("ab")  // last read at 12 s
        let partial = try client.sent()
        assertStatus(partial, 200)
        XCTAssertTrue(partial.hasSuffix("\r\n\r\nab"), partial)

        proxy.loop.advanceTime(by: .milliseconds(9_999))
        XCTAssertTrue(upstream.isActive, "9.999 s since the last read")
        XCTAssertTrue(client.isActive)
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(upstream.isActive, "10 s since the last read: timed out")
        XCTAssertFalse(client.isActive, "a response cut short closes the client connection")
        XCTAssertEqual(try client.sent(), "", "nothing more is written")
    }

    // MARK: - proxy_send_timeout

    /// An EmbeddedChannel never blocks a write, but its `isWritable` can be cleared and the writability change
    /// fired, which is what NIO does when the socket's send buffer passes the high-water mark. The send timer
    /// runs while the connection cannot take more: it is cancelled when writes drain, started afresh at the next
    /// stall, and gives 504 `proxy_send_timeout` into a stall, not 1 ms earlier.
    func testUnwritableUpstreamIs504AfterProxySendTimeout() throws {
        let proxy = try makeProxy(
            upstream: "server 127.0.0.1:1001;", location: "proxy_send_timeout 5s; proxy_read_timeout 60s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        let upstream = try proxy.upstream(0)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET / "))

        func setWritable(_ writable: Bool) {
            upstream.isWritable = writable
            upstream.pipeline.fireChannelWritabilityChanged()
        }
        setWritable(false)
        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertEqual(try client.sent(), "", "stuck for 4.999 s of 5 s")
        setWritable(true)  // drained just in time: the send timer stops
        proxy.loop.advanceTime(by: .seconds(1))
        XCTAssertEqual(try client.sent(), "", "writable again: no send timeout")
        XCTAssertTrue(upstream.isActive)

        setWritable(false)  // stuck again at 5.999 s: a fresh 5 s
        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertEqual(try client.sent(), "", "stuck for 4.999 s of the second stall")
        XCTAssertTrue(upstream.isActive)
        proxy.loop.advanceTime(by: .milliseconds(1))
        assertStatus(try client.sent(), 504, "send timeout")
        XCTAssertFalse(upstream.isActive)
    }

    // MARK: - max_fails / fail_timeout

    /// One request, on a fresh connection (`keepalive 0`), answered 200: returns the peer that served it.
    private func serve(_ path: String, on client: EmbeddedChannel, by proxy: EmbeddedProxy,
                       file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let opened = proxy.connector.channels.count
        try client.receive(get(path))
        XCTAssertEqual(proxy.connector.channels.count, opened + 1, "one new connection for \(path)",
                       file: file, line: line)
        let (peer, upstream) = try XCTUnwrap(proxy.connector.channels.last, file: file, line: line)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET \(path) "), file: file, line: line)
        try upstream.receive(Self.ok)
        assertStatus(try client.sent(), 200, path, file: file, line: line)
        return peer
    }

    /// `max_fails=1 fail_timeout=10s`: a peer that refused a connection at 0 s gets no attempt while
    /// `now - checked <= fail_timeout` in whole seconds (nginx's `ngx_time()` test, inclusive: through 10.999 s),
    /// although round robin would have picked it again within three requests; from 11 s it is tried again.
    func testFailedPeerSitsOutFailTimeout() throws {
        let proxy = try makeProxy(upstream: """
            server 127.0.0.1:1001 max_fails=1 fail_timeout=10s;
            server 127.0.0.1:1002 max_fails=1 fail_timeout=10s;
            keepalive 0;
            """)
        let client = try proxy.connectClient()
        proxy.connector.refusing = [0]
        XCTAssertEqual(try serve("/0", on: client, by: proxy), 1, "the refused request moved to the second server")
        XCTAssertEqual(proxy.connector.attempts, [0, 1])
        proxy.connector.refusing = []  // the first server is back, but only a try can tell

        var elapsed = TimeAmount.zero
        for at in [TimeAmount.seconds(1), .seconds(5), .seconds(9), .milliseconds(10_999)] {
            proxy.loop.advanceTime(by: at - elapsed)
            elapsed = at
            XCTAssertEqual(try serve("/out", on: client, by: proxy), 1, "at \(at.nanoseconds / 1_000_000) ms")
        }
        XCTAssertEqual(proxy.connector.attempts.filter { $0 == 0 }.count, 1, "no attempt on the failed peer")

        proxy.loop.advanceTime(by: .seconds(11) - elapsed)
        var peers: [Int] = []
        for _ in 0..<3 { peers.append(try serve("/back", on: client, by: proxy)) }
        // Its weight starts again from 0 after the failure, so smooth round robin picks it on the third request.
        XCTAssertEqual(peers, [1, 1, 0], "after fail_timeout the failed peer gets traffic again")
    }

    // MARK: - proxy_next_upstream_timeout

    /// `proxy_next_upstream_timeout 5s` counts from the request's first attempt: a peer that drops the connection
    /// 4.999 s in still hands the request to the next server; at 5 s no further attempt is made and the client
    /// gets what ngx_http_upstream_next finalizes with for an error, 502.
    func testErrorAfterNextUpstreamTimeoutIs502WithoutAnotherAttempt() throws {
        for (delay, retried) in [(TimeAmount.milliseconds(4_999), true), (.seconds(5), false)] {
            let proxy = try makeProxy(
                upstream: "server 127.0.0.1:1001 max_fails=0; server 127.0.0.1:1002 max_fails=0;",
                location: "proxy_next_upstream_timeout 5s; proxy_read_timeout 60s;")
            let client = try proxy.connectClient()
            try client.receive(get("/"))
            let first = try proxy.upstream(0)
            proxy.loop.advanceTime(by: delay)
            try first.close().wait()  // the peer closes without a byte of response
            proxy.loop.run()
            let what = "peer gone after \(delay.nanoseconds / 1_000_000) ms"
            if retried {
                XCTAssertEqual(proxy.connector.attempts, [0, 1], what)
                try proxy.upstream(1).receive(Self.ok)
                assertStatus(try client.sent(), 200, what)
            } else {
                XCTAssertEqual(proxy.connector.attempts, [0], what)
                assertStatus(try client.sent(), 502, what)
            }
        }
    }

    /// A read timeout that ends the attempt after `proxy_next_upstream_timeout` is final too, with 504 (the
    /// status nginx maps a timeout to).
    func testReadTimeoutAfterNextUpstreamTimeoutIs504WithoutAnotherAttempt() throws {
        let proxy = try makeProxy(
            upstream: "server 127.0.0.1:1001 max_fails=0; server 127.0.0.1:1002 max_fails=0;",
            location: "proxy_next_upstream_timeout 5s; proxy_read_timeout 6s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        proxy.loop.advanceTime(by: .milliseconds(5_999))
        XCTAssertEqual(try client.sent(), "")
        proxy.loop.advanceTime(by: .milliseconds(1))
        assertStatus(try client.sent(), 504)
        XCTAssertEqual(proxy.connector.attempts, [0], "past proxy_next_upstream_timeout: no second server")
    }

    /// A pooled connection that fails is retried on a fresh connection to the same server (nginx gives that try
    /// back), but still only within `proxy_next_upstream_timeout`: nginx tests the timeout after giving the try
    /// back. Closed at once (a stale connection), the request goes out again; closed 6 s in, it is 502.
    func testPooledConnectionRetryHonoursNextUpstreamTimeout() throws {
        for (delay, retried) in [(TimeAmount.zero, true), (.seconds(6), false)] {
            let proxy = try makeProxy(
                upstream: "server 127.0.0.1:1001; keepalive 8;",
                location: "proxy_next_upstream_timeout 5s; proxy_read_timeout 60s;")
            let client = try proxy.connectClient()
            try client.receive(get("/1"))
            let pooled = try proxy.upstream(0)
            XCTAssertTrue(try pooled.sent().hasPrefix("GET /1 "))
            try pooled.receive(Self.ok)
            assertStatus(try client.sent(), 200)

            try client.receive(get("/2"))
            XCTAssertTrue(try pooled.sent().hasPrefix("GET /2 "), "the second request reuses the pooled connection")
            proxy.loop.advanceTime(by: delay)
            try pooled.close().wait()
            proxy.loop.run()
            let what = "pooled connection closed after \(delay.nanoseconds / 1_000_000) ms"
            if retried {
                XCTAssertEqual(proxy.connector.attempts, [0, 0], what)
                let fresh = try proxy.upstream(1)
                XCTAssertTrue(try fresh.sent().hasPrefix("GET /2 "), what)
                try fresh.receive(Self.ok)
                assertStatus(try client.sent(), 200, what)
            } else {
                XCTAssertEqual(proxy.connector.attempts, [0], what)
                assertStatus(try client.sent(), 502, what)
            }
        }
    }
}
