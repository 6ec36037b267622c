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
        var link = RedisLinkState(name: "redis x", handshake: [auth, select])
        XCTAssertEqual(link.start(), [.connect])
        XCTAssertEqual(link.start(), [], "started once")
        XCTAssertEqual(link.connected(), [.send([auth, select])])
        XCTAssertEqual(link.received(.simpleString(Array("OK".utf8))), [])
        XCTAssertFalse(link.isReady)
        XCTAssertEqual(link.received(.simpleString(Array("OK".utf8))), [.becameReady])
        XCTAssertTrue(link.isReady)
        XCTAssertEqual(link.received(.integer(1)), [.deliver(.integer(1))])
    }

    func testNoHandshakeIsReadyOnConnect() {
        var link = RedisLinkState(name: "redis x", handshake: [])
        _ = link.start()
        XCTAssertEqual(link.connected(), [.becameReady])
    }

    func testRefusedHandshakeClosesAndRetries() {
        var link = RedisLinkState(name: "redis x", handshake: [auth])
        _ = link.start()
        _ = link.connected()
        XCTAssertEqual(link.received(.error(Array("WRONGPASS invalid".utf8))), [
            .close, .log(.error, "zone_sync_redis: redis x refused the handshake: WRONGPASS invalid, retrying"),
            .retry(afterMilliseconds: 100),
        ])
        XCTAssertEqual(link.closed(), [], "the close it asked for changes nothing")
        XCTAssertEqual(link.retryTimerFired(), [.connect])
    }

    /// Failures double the wait up to 5 s; only the first of an outage is logged, and the recovery once.
    func testBackoffAndOneLinePerOutage() {
        var link = RedisLinkState(name: "redis x", handshake: [])
        _ = link.start()
        _ = link.connected()
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
        XCTAssertEqual(link.connected(), [.log(.notice, "connected to redis x again"), .becameReady])
        // A new outage is logged again, and starts from the shortest wait.
        XCTAssertEqual(link.closed().count, 3)
    }

    func testProtocolErrorAndStop() {
        var link = RedisLinkState(name: "redis x", handshake: [])
        _ = link.start()
        _ = link.connected()
        XCTAssertEqual(link.protocolError("unexpected byte"), [.log(.error, "redis x sent an invalid reply: unexpected byte"), .close])
        XCTAssertEqual(link.closed().first, .lost)
        XCTAssertEqual(link.stop(), [], "waiting: nothing open to close")
        XCTAssertEqual(link.retryTimerFired(), [], "stopped for good")
        XCTAssertEqual(link.received(.integer(1)), [])
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
