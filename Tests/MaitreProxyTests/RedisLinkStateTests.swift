import MaitreConfig
import MaitreWire
import XCTest

@testable import MaitreProxy

/// The life of a Redis connection: handshake, serving, losing it, and retrying with a doubling wait, with one
/// log line per outage.
final class RedisLinkStateTests: XCTestCase {
    private let auth = RESPCommand.encode(["AUTH", "pw"])
    private let select = RESPCommand.encode(["SELECT", "3"])

    func testHandshakeThenServe() {
        var link = RedisLinkState(name: "redis x", handshake: [auth, select], timeout: 5000)
        XCTAssertEqual(link.start(), [.connect])
        XCTAssertEqual(link.start(), [], "started once")
        XCTAssertEqual(link.connected(now: 0), [.send([auth, select])])
        XCTAssertEqual(link.received(.simpleString(Array("OK".utf8)), now: 0), [])
        XCTAssertFalse(link.isReady)
        XCTAssertEqual(link.received(.simpleString(Array("OK".utf8)), now: 0), [.becameReady])
        XCTAssertTrue(link.isReady)
        XCTAssertEqual(link.received(.integer(1), now: 0), [.deliver(.integer(1))])
    }

    func testNoHandshakeIsReadyOnConnect() {
        var link = RedisLinkState(name: "redis x", handshake: [], timeout: 5000)
        _ = link.start()
        XCTAssertEqual(link.connected(now: 0), [.becameReady])
    }

    func testRefusedHandshakeClosesAndRetries() {
        var link = RedisLinkState(name: "redis x", handshake: [auth], timeout: 5000)
        _ = link.start()
        _ = link.connected(now: 0)
        XCTAssertEqual(link.received(.error(Array("WRONGPASS invalid".utf8)), now: 0), [
            .close, .log(.error, "zone_sync_redis: redis x refused the handshake: WRONGPASS invalid, retrying"),
            .retry(afterMilliseconds: 100),
        ])
        XCTAssertEqual(link.closed(), [], "the close it asked for changes nothing")
        XCTAssertEqual(link.retryTimerFired(), [.connect])
    }

    /// Failures double the wait up to 5 s; only the first of an outage is logged, and the recovery once.
    func testBackoffAndOneLinePerOutage() {
        var link = RedisLinkState(name: "redis x", handshake: [], timeout: 5000)
        _ = link.start()
        _ = link.connected(now: 0)
        XCTAssertEqual(link.closed(), [
            .lost, .log(.error, "zone_sync_redis: connection to redis x was closed, retrying"), .retry(afterMilliseconds: 100),
        ])
        var waits: [Int64] = []
        for _ in 0..<9 {
            XCTAssertEqual(link.retryTimerFired(), [.connect])
            let actions = link.connectFailed("111: Connection refused")
            XCTAssertFalse(actions.contains { if case .log = $0 { return true } else { return false } }, "\(actions)")
            for case .retry(let wait) in actions { waits.append(wait) }
        }
        XCTAssertEqual(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000])
        _ = link.retryTimerFired()
        XCTAssertEqual(link.connected(now: 0), [.log(.notice, "connected to redis x again"), .becameReady])
        // A new outage is logged again, and starts from the shortest wait.
        XCTAssertEqual(link.closed().count, 3)
    }

    /// Replies go to the owner in order; a PING's answer is the link's own; pushed messages answer nothing.
    func testPingsKeepAnIdleLinkCheckedAndSilenceEndsIt() {
        var link = RedisLinkState(name: "redis x", handshake: [], timeout: 4000)
        _ = link.start()
        _ = link.connected(now: 0)
        XCTAssertEqual(link.tick(now: 1000), [], "not idle for half the timeout yet")
        XCTAssertEqual(link.tick(now: 2000), [.send([RedisLinkState.ping])])
        link.sent(1, now: 2100)
        let push = RESPValue.array([.bulk(Array("pmessage".utf8)), .bulk([]), .bulk([]), .bulk([])])
        XCTAssertEqual(link.received(push, now: 2200), [.deliver(push)], "a push pops nothing")
        XCTAssertEqual(link.received(.simpleString(Array("PONG".utf8)), now: 2300), [], "the PING's answer")
        XCTAssertEqual(link.received(.integer(1), now: 2400), [.deliver(.integer(1))], "the owner's answer")
        XCTAssertEqual(link.awaitedCount, 0)
        XCTAssertTrue(link.acceptsCommands)
        // A command left unanswered for the timeout ends the connection.
        link.sent(2, now: 3000)
        XCTAssertEqual(link.tick(now: 6000), [])
        XCTAssertEqual(link.tick(now: 7000), [
            .close, .lost, .log(.error, "zone_sync_redis: redis x did not answer in 4000 ms, retrying"),
            .retry(afterMilliseconds: 100),
        ])
        // A handshake left unanswered too.
        var silent = RedisLinkState(name: "redis y", handshake: [auth], timeout: 4000)
        _ = silent.start()
        _ = silent.connected(now: 0)
        XCTAssertEqual(silent.tick(now: 3999), [])
        XCTAssertEqual(silent.tick(now: 4000).first, .close)
    }

    func testAFullLinkRefusesCommands() {
        var link = RedisLinkState(name: "redis x", handshake: [], timeout: 4000)
        _ = link.start()
        _ = link.connected(now: 0)
        link.sent(RedisLinkState.maxAwaited - 1, now: 0)
        XCTAssertTrue(link.acceptsCommands)
        link.sent(1, now: 0)
        XCTAssertFalse(link.acceptsCommands)
        _ = link.received(.integer(0), now: 1)
        XCTAssertTrue(link.acceptsCommands)
    }

    func testProtocolErrorAndStop() {
        var link = RedisLinkState(name: "redis x", handshake: [], timeout: 5000)
        _ = link.start()
        _ = link.connected(now: 0)
        XCTAssertEqual(link.protocolError("unexpected byte"), [.log(.error, "redis x sent an invalid reply: unexpected byte"), .close])
        XCTAssertEqual(link.closed().first, .lost)
        XCTAssertEqual(link.stop(), [], "waiting: nothing open to close")
        XCTAssertEqual(link.retryTimerFired(), [], "stopped for good")
        XCTAssertEqual(link.received(.integer(1), now: 0), [])
    }

    /// Command replies are matched to what they answer in order; SCAN pages are read defensively.
    func testRepliesInOrderAndScanPages() {
        var replies = StickySyncReplies()
        replies.expect(.ignore, .scan(zone: "z", loaded: 0))
        replies.expect(.values(zone: "z", sessions: [[1]]))
        XCTAssertEqual(replies.next(), .ignore)
        XCTAssertEqual(replies.next(), .scan(zone: "z", loaded: 0))
        XCTAssertEqual(replies.next(), .values(zone: "z", sessions: [[1]]))
        XCTAssertNil(replies.next(), "an unasked reply is for nothing")
        for _ in 0..<1000 { replies.expect(.ignore) }
        for _ in 0..<1000 { XCTAssertEqual(replies.next(), .ignore) }
        XCTAssertEqual(replies.outstanding, 0)

        let page = StickySyncReplies.scanPage(.array([.bulk(Array("17".utf8)), .array([.bulk([1]), .integer(3)])]))
        XCTAssertEqual(page?.cursor, Array("17".utf8))
        XCTAssertEqual(page?.keys, [[1]])
        XCTAssertNil(StickySyncReplies.scanPage(.array([.bulk([])])))
        XCTAssertNil(StickySyncReplies.scanPage(.integer(0)))
    }
}
