import MaitreBalancing
import XCTest

@testable import MaitreWire

/// The API's JSON reader: RFC 8259 values, and refusals (never traps) for everything else, including a fixed-seed
/// stream of random and mutated bodies.
final class JSONValueTests: XCTestCase {
    func testValues() throws {
        XCTAssertEqual(try JSONValue.parse(Array(#"{"weight": 3, "drain": true, "x": null}"#.utf8)),
                       .object([("weight", .number(3)), ("drain", .bool(true)), ("x", .null)]))
        XCTAssertEqual(try JSONValue.parse(Array(" [1, -2.5e2, \"a\\nb\", [], {}] ".utf8)),
                       .array([.number(1), .number(-250), .string("a\nb"), .array([]), .object([])]))
        XCTAssertEqual(try JSONValue.parse(Array(#""\u00e9\ud83d\ude00\/""#.utf8)), .string("é😀/"))
        XCTAssertEqual(try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8)).member("a"), .number(2), "the last wins")
        XCTAssertEqual(try JSONValue.parse(Array("0".utf8)), .number(0))
    }

    func testRefusals() {
        let bad = [
            "", "{", "}", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", ".5", "-", "1e", "tru", "nul", "\"abc",
            "\"\\x\"", "\"\\ud83d\"", "\"\\udc00\"", "\"a\u{01}\"", "{} {}", "[1 2]", "1e999", "{'a':1}",
            "\"\\u12\"", String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONValue.parse(Array(text.utf8)), "accepted: \(text)")
        }
        XCTAssertThrowsError(try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]), "invalid UTF-8")
    }

    func testDepthBound() throws {
        let deep = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        XCTAssertNoThrow(try JSONValue.parse(Array(deep.utf8)))
        let deeper = "[" + deep + "]"
        XCTAssertThrowsError(try JSONValue.parse(Array(deeper.utf8)))
    }

    /// Random bytes and byte-level mutations of valid bodies: every one parses or throws (a trap fails the run).
    func testFuzzNeverTraps() {
        var random = SplitMix64(seed: 0x5EED_0A91)
        let seeds = [#"{"weight":3}"#, #"{"drain":true,"down":false}"#, #"[1,"a\u00e9",{"b":[null,true]}]"#]
        var parsed = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = Array(seeds[round % seeds.count].utf8)
                for _ in 0..<(1 + Int(random.next() % 4)) where !bytes.isEmpty {
                    let index = Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 3 {
                    case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
                    case 1: bytes.remove(at: index)
                    default:
                        let pieces = Array("{}[]\",:\\u0e-1".utf8)
                        bytes.insert(pieces[Int(random.next() % UInt64(pieces.count))], at: index)
                    }
                }
            } else {
                bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            }
            if (try? JSONValue.parse(bytes)) != nil { parsed += 1 }
        }
        XCTAssertGreaterThan(parsed, 0, "some mutations stay valid JSON")
    }

    func testTextEscapes() {
        XCTAssertEqual(JSONText.quoted("a\"b\\c\n\u{01}é"), #""a\"b\\c\n\u0001é""#)
        XCTAssertEqual(JSONText.number(3), "3")
        XCTAssertEqual(JSONText.number(0.25), "0.25")
        XCTAssertEqual(JSONText.number(.nan), "null")
    }
}
