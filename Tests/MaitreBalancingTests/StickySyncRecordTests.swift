import XCTest

@testable import MaitreBalancing

/// How `sticky learn … sync` names and writes sessions in Redis, and reads what others wrote.
final class StickySyncRecordTests: XCTestCase {
    typealias Record = StickySyncRecord

    func testNamesAndValues() {
        XCTAssertEqual(String(decoding: Record.key(prefix: "m:", zone: "z", session: Array("abc".utf8)), as: UTF8.self),
                       "m:sticky:z:abc")
        XCTAssertEqual(String(decoding: Record.channel(prefix: "m:", zone: "z"), as: UTF8.self), "m:sticky:z")
        XCTAssertEqual(String(decoding: Record.channelPattern(prefix: "a*b["), as: UTF8.self), "a\\*b\\[sticky:*")
        XCTAssertEqual(String(decoding: Record.keyPattern(prefix: "m:", zone: "z?"), as: UTF8.self), "m:sticky:z\\?:*")
        XCTAssertEqual(Record.zone(ofChannel: Array("m:sticky:sessions".utf8), prefix: "m:"), "sessions")
        XCTAssertNil(Record.zone(ofChannel: Array("other:sticky:sessions".utf8), prefix: "m:"))
        XCTAssertNil(Record.zone(ofChannel: Array("m:sticky:".utf8), prefix: "m:"))

        let learnt = Record.Learnt(session: Array("s p;a\u{0}ce".utf8), serverID: Array("0123abcd".utf8), lastUsed: 1_700_000_000_123)
        XCTAssertEqual(String(decoding: Record.value(learnt), as: UTF8.self), "1700000000123 0123abcd")
        XCTAssertEqual(Record.parseValue(Record.value(learnt), session: learnt.session), learnt)
        XCTAssertNil(Record.parseValue(Array("x 1".utf8), session: [1]))
        XCTAssertNil(Record.parseValue(Array("12".utf8), session: [1]))
        XCTAssertNil(Record.parseValue(Array("12 ".utf8), session: [1]))
    }

    func testMessagesRoundTripAndHostileOnesAreRefused() {
        // A route= ID may hold spaces; a session any byte: both survive.
        let learnt = Record.Learnt(session: Array("a b\r\n".utf8), serverID: Array("r 1".utf8), lastUsed: 42)
        let message = Record.message(learnt, instance: "9f")
        XCTAssertEqual(String(decoding: message, as: UTF8.self), "m1 9f 42 3 r 1 a b\r\n")
        let parsed = Record.parseMessage(message)
        XCTAssertEqual(parsed?.instance, "9f")
        XCTAssertEqual(parsed?.learnt, learnt)
        for hostile in [
            "", "m1", "m2 9f 42 3 r 1 x", "m1  42 3 r 1 x", "m1 9f x 3 r 1 x", "m1 9f 42 0  x", "m1 9f 42 3 r 1",
            "m1 9f 42 3 r 1 ", "m1 9f 42 99 r 1 x", "m1 9f 42 3 r 1x", "m1 9f 4242424242424242424242 3 r 1 x",
            "m1 9f 42 -3 r 1 x",
        ] {
            XCTAssertNil(Record.parseMessage(Array(hostile.utf8)), hostile)
        }
        // Random bytes never trap.
        var state: UInt64 = 7
        for _ in 0..<20_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let count = Int(state >> 58)
            var bytes = Array("m1 a 1 2 ".utf8)
            for index in 0..<count { bytes.append(UInt8(truncatingIfNeeded: state >> UInt64(index % 56))) }
            _ = Record.parseMessage(bytes)
            _ = Record.parseValue(bytes, session: [1])
        }
    }

    /// A session's age from the sender's wall clock: clamped so skew can neither revive an expired session nor
    /// make one newer than now.
    func testAgeIsClamped() {
        let learnt = Record.Learnt(session: [1], serverID: [2], lastUsed: 10_000)
        XCTAssertEqual(Record.age(of: learnt, wallNow: 12_000, timeout: 5_000), 2_000)
        XCTAssertEqual(Record.age(of: learnt, wallNow: 9_000, timeout: 5_000), 0, "a clock ahead of ours")
        XCTAssertNil(Record.age(of: learnt, wallNow: 15_000, timeout: 5_000), "expired")
    }
}
