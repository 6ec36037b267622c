import MaitreBalancing
import MaitreConfig
import XCTest

@testable import MaitreProxy

/// The log line's byte buffer and the word-at-a-time escape test, without sockets.
final class LogBytesTests: XCTestCase {
    /// Grows past its first capacity through every kind of append, keeps bytes in order, drops a prefix.
    func testAppendsGrowAndKeepOrder() {
        var bytes = LogBytes(capacity: 16)
        var expected: [UInt8] = []
        for round in 0..<200 {
            let byte = UInt8(truncatingIfNeeded: round)
            bytes.append(byte)
            expected.append(byte)
            let chunk = [UInt8](repeating: UInt8(truncatingIfNeeded: round &* 7), count: round % 37)
            bytes.append(chunk)
            expected += chunk
            bytes.append(UInt8(ascii: ","), UInt8(ascii: " "))
            expected += [UInt8(ascii: ","), UInt8(ascii: " ")]
            bytes.append("lit" as StaticString)
            expected += Array("lit".utf8)
            bytes.append(utf8: "é\(round)")
            expected += Array("é\(round)".utf8)
        }
        XCTAssertEqual(bytes.count, expected.count)
        XCTAssertEqual(bytes.array, expected)
        bytes.removeFirst(1000)
        XCTAssertEqual(bytes.array, Array(expected[1000...]))
        bytes.removeFirst(Int.max)
        XCTAssertTrue(bytes.isEmpty)
        bytes.removeAll()
        XCTAssertEqual(bytes.count, 0)
    }

    /// The eight-bytes-at-a-time test agrees with the byte-by-byte rule on every single byte value at every
    /// position of a word, and on 20,000 random strings (fixed seed) of every length up to 40.
    func testEscapeTestAgreesWithTheByteRule() {
        func rule(_ bytes: [UInt8]) -> Bool {
            bytes.contains { $0 < 0x20 || $0 > 0x7E || $0 == 0x22 || $0 == 0x5C }
        }
        for value in 0...255 {
            for length in 1...17 {
                for position in 0..<length {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = UInt8(value)
                    let fast = bytes.withUnsafeBytes { AccessLogLine.anyNeedsEscape($0) }
                    XCTAssertEqual(fast, rule(bytes), "byte \(value) at \(position) of \(length)")
                }
            }
        }
        var generator = SplitMix64(seed: 0x5EED_0F_1065)
        var disagreements = 0
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 41)
            // Mostly printable bytes, so that a single odd byte decides.
            let bytes = (0..<length).map { _ -> UInt8 in
                let roll = generator.next()
                return roll % 16 == 0 ? UInt8(truncatingIfNeeded: roll >> 8) : UInt8(0x20 + (roll >> 8) % 95)
            }
            if bytes.withUnsafeBytes({ AccessLogLine.anyNeedsEscape($0) }) != rule(bytes) { disagreements += 1 }
        }
        XCTAssertEqual(disagreements, 0)
    }

    /// Escaped values as nginx writes them, through the fast test and the slow path.
    func testEscapes() {
        func escaped(_ text: [UInt8], _ escape: LogFormat.Escape) -> String {
            var out = LogBytes()
            text.withUnsafeBytes { AccessLogLine.appendEscaped($0, escape: escape, to: &out) }
            return String(decoding: out.array, as: UTF8.self)
        }
        XCTAssertEqual(escaped(Array("Mozilla/5.0 (X11; Linux x86_64)".utf8), .default), "Mozilla/5.0 (X11; Linux x86_64)")
        XCTAssertEqual(escaped(Array("a\"b\\c".utf8) + [0x01, 0x7F, 0xC3], .default), "a\\x22b\\x5Cc\\x01\\x7F\\xC3")
        XCTAssertEqual(escaped(Array("a\"b\\c\n".utf8) + [0x01], .json), "a\\\"b\\\\c\\n\\u0001")
        XCTAssertEqual(escaped([0x22, 0x0A], .none), "\"\n")
    }
}
