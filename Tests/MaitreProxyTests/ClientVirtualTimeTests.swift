import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// The client-side timers (`keepalive_timeout` and `client_header_timeout` through the loop's IdleDeadlines,
/// `client_body_timeout` through the connection's body timer), driven by an EmbeddedEventLoop's virtual time and
/// checked to the millisecond on both sides of each deadline. The upstream-side timers are in VirtualTimeTests.
final class ClientVirtualTimeTests: EmbeddedProxyTestCase {
    /// A proxy with `serverBody` in its server: `/local` is answered by maitred itself, the rest goes upstream.
    private func makeProxy(server serverBody: String) throws -> EmbeddedProxy {
        try makeProxy("""
            http {
                upstream app { server 127.0.0.1:1001; }
                server {
                    listen 127.0.0.1:8080;
                    \(serverBody)
                    location = /local { return 200 "ok"; }
                    location / { proxy_pass http://app; }
                }
            }
            """)
    }

    private func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n" }

    private func assertStatus(_ text: String, _ status: Int, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 \(status) "), "got: \(text.debugDescription)", file: file, line: line)
    }

    // MARK: - keepalive_timeout (client side)

    /// A keep-alive connection idle since its last response is closed after `keepalive_timeout`, silently, and
    /// not 1 ms before; a request in between restarts the wait (the deadline queued for the first wait comes due
    /// first and finds the connection busy since, then waits for the new one).
    func testIdleKeepAliveClientIsClosedAfterKeepaliveTimeout() throws {
        let proxy = try makeProxy(server: "keepalive_timeout 5s; client_header_timeout 60s;")
        let client = try proxy.connectClient()
        proxy.loop.advanceTime(by: .seconds(1))
        try client.receive(get("/local"))
        assertStatus(try client.sent(), 200)  // idle from 1 s

        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertTrue(client.isActive, "idle for 4.999 s of 5 s")
        try client.receive(get("/local"))
        assertStatus(try client.sent(), 200)  // idle from 5.999 s

        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertTrue(client.isActive, "idle for 4.999 s since the second response")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(client.isActive, "idle for keepalive_timeout: closed")
        XCTAssertEqual(try client.sent(), "", "closed without a response, as nginx does")
    }

    /// The same after a proxied response: the wait starts when the upstream's answer has gone to the client.
    func testKeepaliveTimeoutStartsAfterAProxiedResponse() throws {
        let proxy = try makeProxy(server: "keepalive_timeout 5s; client_header_timeout 60s;")
        let client = try proxy.connectClient()
        try client.receive(get("/"))
        proxy.loop.advanceTime(by: .seconds(3))  // the upstream takes 3 s: not idle time
        try proxy.upstream(0).receive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        assertStatus(try client.sent(), 200)

        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertTrue(client.isActive, "4.999 s after the response (7.999 s after connecting)")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(client.isActive)
    }

    // MARK: - client_header_timeout

    /// A new connection must send its whole first head within `client_header_timeout` of being accepted: one that
    /// sends nothing and one that sends half a head are both closed at 3 s, without an answer, and not before.
    func testClientHeaderTimeoutClosesSilentAndHalfSentHeads() throws {
        let proxy = try makeProxy(server: "client_header_timeout 3s; keepalive_timeout 60s;")
        let silent = try proxy.connectClient()
        let halfHead = try proxy.connectClient()
        proxy.loop.advanceTime(by: .seconds(2))
        try halfHead.receive("GET /local HTTP/1.1\r\nHost: x\r\n")

        proxy.loop.advanceTime(by: .milliseconds(999))
        XCTAssertTrue(silent.isActive, "2.999 s of 3 s")
        XCTAssertTrue(halfHead.isActive, "bytes of an unfinished head do not restart the wait")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(silent.isActive, "no head within client_header_timeout")
        XCTAssertFalse(halfHead.isActive, "no complete head within client_header_timeout")
        XCTAssertEqual(try silent.sent(), "")
        XCTAssertEqual(try halfHead.sent(), "", "nginx closes without a 408 here")
    }

    // MARK: - client_body_timeout

    /// A client that stops sending its body: `client_body_timeout` after the last body read closes the connection
    /// without a response (nginx logs 408 and sends nothing), and the upstream connection the body was streaming to
    /// is closed.
    func testStalledRequestBodyIs408AfterClientBodyTimeout() throws {
        let proxy = try makeProxy(server: "client_body_timeout 10s; proxy_read_timeout 60s;")
        let client = try proxy.connectClient()
        try client.receive("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let upstream = try proxy.upstream(0)
        XCTAssertTrue(try upstream.sent().hasPrefix("POST / HTTP/1.1\r\n"), "the body streams as it comes")

        proxy.loop.advanceTime(by: .milliseconds(9_999))
        XCTAssertEqual(try client.sent(), "", "9.999 s without a body byte")
        XCTAssertTrue(upstream.isActive)
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertEqual(try client.sent(), "", "nginx sends no 408")
        XCTAssertFalse(client.isActive, "the timeout closes the connection")
        XCTAssertFalse(upstream.isActive, "the half-sent request's upstream connection is dropped")
    }

    /// nginx's body timeout runs between two reads: a body trickled every 6 s under a 10 s timeout is still being
    /// read at 12 s, and when the client then stops, the close comes 10 s after its last byte (22 s), not later.
    func testClientBodyTimeoutCountsFromTheLastRead() throws {
        let proxy = try makeProxy(server: "client_body_timeout 10s; proxy_read_timeout 60s;")
        let client = try proxy.connectClient()
        try client.receive("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        let upstream = try proxy.upstream(0)
        for piece in ["cd", "ef"] {
            proxy.loop.advanceTime(by: .seconds(6))
            try client.receive(piece)
        }
        XCTAssertTrue(try upstream.sent().hasSuffix("abcdef"), "every piece was passed on")
        XCTAssertEqual(try client.sent(), "", "alive at 12 s although the body started 12 s ago")

        proxy.loop.advanceTime(by: .milliseconds(9_999))
        XCTAssertEqual(try client.sent(), "", "9.999 s since the last body byte")
        XCTAssertTrue(client.isActive)
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertEqual(try client.sent(), "")
        XCTAssertFalse(client.isActive)
    }

    /// Time the client spends held back because the upstream cannot take more of the body does not count against
    /// it: 25 s of an unwritable upstream under a 10 s `client_body_timeout` do not end the request, and once the
    /// upstream drains the client has a whole timeout again (nginx re-adds the read timer when it reads again), so
    /// the close comes 10 s after reading resumed, not at the first check after it.
    func testClientBodyTimeoutDoesNotRunWhileTheUpstreamHoldsTheBodyBack() throws {
        let proxy = try makeProxy(server: "client_body_timeout 10s; proxy_send_timeout 120s; proxy_read_timeout 120s;")
        let client = try proxy.connectClient()
        try client.receive("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        let upstream = try proxy.upstream(0)
        upstream.isWritable = false  // what NIO reports when the socket's send buffer passes its high-water mark
        upstream.pipeline.fireChannelWritabilityChanged()

        proxy.loop.advanceTime(by: .seconds(25))
        XCTAssertTrue(client.isActive, "held back by the upstream for 25 s: no client_body_timeout")
        upstream.isWritable = true  // drained at 25 s: the client is read again
        upstream.pipeline.fireChannelWritabilityChanged()

        proxy.loop.advanceTime(by: .milliseconds(9_999))
        XCTAssertTrue(client.isActive, "9.999 s since reading resumed")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertFalse(client.isActive)
        XCTAssertEqual(try client.sent(), "")
    }
}
