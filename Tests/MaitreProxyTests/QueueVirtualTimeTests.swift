import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// `queue N timeout=T` on an EmbeddedEventLoop: requests that find every server at `max_conns` (or none up) wait
/// in order, leave when a server frees up, and get 502 when the queue is full or their time is over; a request
/// whose only server refuses connections (a restart) waits and goes out once the server accepts again.
final class QueueVirtualTimeTests: EmbeddedProxyTestCase {
    private func makeProxy(upstream upstreamBody: String) throws -> EmbeddedProxy {
        try makeProxy("""
            http {
                upstream app { \(upstreamBody) }
                server {
                    listen 127.0.0.1:8080;
                    location / { proxy_pass http://app; }
                }
            }
            """)
    }

    private static let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"

    private func get(_ path: String) -> String { "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n" }

    private func assertStatus(_ text: String, _ status: Int, _ message: String = "",
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(text.hasPrefix("HTTP/1.1 \(status) "), "\(message) got: \(text.debugDescription)",
                      file: file, line: line)
    }

    private func queued(_ proxy: EmbeddedProxy) -> Int { proxy.context.runtime.queues[0]?.count ?? -1 }

    func testRequestsWaitForAServerAtMaxConnsInOrderAndAFullQueueAnswers502() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001 max_conns=1; queue 2 timeout=5s;")
        let first = try proxy.connectClient()
        try first.receive(get("/1"))
        let upstream = try proxy.upstream(0)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /1 "))

        let second = try proxy.connectClient()
        try second.receive(get("/2"))
        let third = try proxy.connectClient()
        try third.receive(get("/3"))
        XCTAssertEqual(queued(proxy), 2)
        XCTAssertEqual(try second.sent(), "", "waiting, not refused")
        let fourth = try proxy.connectClient()
        try fourth.receive(get("/4"))
        assertStatus(try fourth.sent(), 502, "the queue holds 2: the third waiting request is refused")
        XCTAssertEqual(proxy.connector.attempts, [0], "no connection beyond max_conns")

        try upstream.receive(Self.ok)
        assertStatus(try first.sent(), 200)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /2 "), "the released server takes the first in line")
        XCTAssertEqual(try third.sent(), "", "the next still waits: max_conns=1")
        XCTAssertEqual(queued(proxy), 1)
        try upstream.receive(Self.ok)
        assertStatus(try second.sent(), 200)
        XCTAssertTrue(try upstream.sent().hasPrefix("GET /3 "))
        try upstream.receive(Self.ok)
        assertStatus(try third.sent(), 200)
        XCTAssertEqual(queued(proxy), 0)
        XCTAssertEqual(proxy.connector.channels.count, 1, "all of it over the one pooled connection")
    }

    func testAWaitingRequestGets502AtItsTimeout() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001 max_conns=1; queue 4 timeout=5s;")
        let first = try proxy.connectClient()
        try first.receive(get("/slow"))
        let waiting = try proxy.connectClient()
        try waiting.receive(get("/2"))
        proxy.loop.advanceTime(by: .milliseconds(4_999))
        XCTAssertEqual(try waiting.sent(), "", "1 ms before the queue's timeout: still waiting")
        proxy.loop.advanceTime(by: .milliseconds(1))
        assertStatus(try waiting.sent(), 502, "nginx Plus answers 502 when the queue's timeout passes")
        XCTAssertEqual(queued(proxy), 0)
        try proxy.upstream(0).receive(Self.ok)
        assertStatus(try first.sent(), 200, "the request holding the server is not disturbed")
    }

    func testTheOnlyServerRestartingIsRiddenOutOneProbeRequestPerTick() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001; queue 8 timeout=10s;")
        proxy.connector.refusing = [0]
        let first = try proxy.connectClient()
        try first.receive(get("/1"))
        let second = try proxy.connectClient()
        try second.receive(get("/2"))
        XCTAssertEqual(try first.sent(), "", "refused before anything was sent: waits instead of 502")
        XCTAssertEqual(queued(proxy), 2)
        XCTAssertEqual(proxy.connector.attempts, [0, 0], "each request tried once on arrival")

        proxy.loop.advanceTime(by: .milliseconds(249))
        XCTAssertEqual(proxy.connector.attempts.count, 2, "no retry before the 250 ms tick")
        proxy.loop.advanceTime(by: .milliseconds(1))
        XCTAssertEqual(proxy.connector.attempts.count, 3, "backing off: one request tests the server per tick")
        proxy.loop.advanceTime(by: .milliseconds(250))
        XCTAssertEqual(proxy.connector.attempts.count, 4)
        XCTAssertEqual(queued(proxy), 2, "both still wait")

        proxy.connector.refusing = []  // the server is back
        proxy.loop.advanceTime(by: .milliseconds(250))
        proxy.loop.run()
        XCTAssertEqual(proxy.connector.channels.count, 2, "the probe connected, and the rest followed at once")
        XCTAssertEqual(queued(proxy), 0)
        for index in 0..<2 {
            let upstream = try proxy.upstream(index)
            XCTAssertTrue(try upstream.sent().hasPrefix("GET /"))
            try upstream.receive(Self.ok)
        }
        assertStatus(try first.sent(), 200)
        assertStatus(try second.sent(), 200)
    }

    func testAServerThatStaysDownEndsTheWaitWith502AtTheTimeout() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001; queue 8 timeout=2s;")
        proxy.connector.refusing = [0]
        let client = try proxy.connectClient()
        try client.receive(get("/1"))
        proxy.loop.advanceTime(by: .milliseconds(1_999))
        XCTAssertEqual(try client.sent(), "")
        XCTAssertLessThanOrEqual(proxy.connector.attempts.count, 9, "at most one connect per 250 ms tick")
        proxy.loop.advanceTime(by: .milliseconds(1))
        assertStatus(try client.sent(), 502)
        XCTAssertEqual(queued(proxy), 0)
    }

    func testWithoutAQueueTheRefusedRequestFailsAtOnce() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001;")
        proxy.connector.refusing = [0]
        let client = try proxy.connectClient()
        try client.receive(get("/1"))
        assertStatus(try client.sent(), 502)
        XCTAssertNil(proxy.context.runtime.queues[0])
    }

    func testAClientThatLeavesIsTakenOutOfTheQueue() throws {
        let proxy = try makeProxy(upstream: "server 127.0.0.1:1001 max_conns=1; queue 4;")
        let first = try proxy.connectClient()
        try first.receive(get("/1"))
        XCTAssertTrue(try proxy.upstream(0).sent().hasPrefix("GET /1 "))
        let leaving = try proxy.connectClient()
        try leaving.receive(get("/2"))
        XCTAssertEqual(queued(proxy), 1)
        _ = try leaving.finish(acceptAlreadyClosed: true)
        proxy.loop.run()
        XCTAssertEqual(queued(proxy), 0, "gone from the queue with its client")
        try proxy.upstream(0).receive(Self.ok)
        assertStatus(try first.sent(), 200)
        XCTAssertEqual(try proxy.upstream(0).sent(), "", "nothing goes out for the client that left")
    }
}
