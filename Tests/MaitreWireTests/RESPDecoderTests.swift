import MaitreBalancing
import XCTest

@testable import MaitreWire

/// RESP2 decoding: every type, values split anywhere, and hostile input refused within the limits (never a trap).
final class RESPDecoderTests: XCTestCase {
    private func decode(_ text: String) throws -> [RESPValue] {
        var decoder = RESPDecoder()
        return try decoder.feed(Array(text.utf8))
    }

    func testEveryType() throws {
        XCTAssertEqual(try decode("+OK\r\n"), [.simpleString(Array("OK".utf8))])
        XCTAssertEqual(try decode("-ERR wrong\r\n"), [.error(Array("ERR wrong".utf8))])
        XCTAssertEqual(try decode(":-42\r\n:0\r\n"), [.integer(-42), .integer(0)])
        XCTAssertEqual(try decode("$5\r\nhel\r\n\r\n$0\r\n\r\n$-1\r\n"),
                       [.bulk(Array("hel\r\n".utf8)), .bulk([]), .bulk(nil)])
        XCTAssertEqual(try decode("*-1\r\n*0\r\n"), [.array(nil), .array([])])
        let pmessage = "*4\r\n$8\r\npmessage\r\n$3\r\np:*\r\n$3\r\np:z\r\n$2\r\nhi\r\n"
        XCTAssertEqual(try decode(pmessage), [.array([
            .bulk(Array("pmessage".utf8)), .bulk(Array("p:*".utf8)), .bulk(Array("p:z".utf8)), .bulk(Array("hi".utf8)),
        ])])
        // SCAN's reply: a cursor and a nested array.
        XCTAssertEqual(try decode("*2\r\n$2\r\n17\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n"), [.array([
            .bulk(Array("17".utf8)), .array([.bulk([0x61]), .bulk([0x62])]),
        ])])
    }

    /// The same bytes give the same values however they are cut, down to one byte at a time.
    func testValuesSplitAnywhere() throws {
        let text = Array("*3\r\n$3\r\nSET\r\n*2\r\n:1\r\n$-1\r\n+OK\r\n-ERR x\r\n$4\r\n\r\n\r\n\r\n".utf8)
        var whole = RESPDecoder()
        let expected = try whole.feed(text)
        XCTAssertEqual(expected.count, 3, "the array (SET, a nested array, OK), an error, a bulk string")
        for cut in 1..<text.count {
            var decoder = RESPDecoder()
            let values = try decoder.feed(text[..<cut]) + decoder.feed(text[cut...])
            XCTAssertEqual(values, expected, "cut at \(cut)")
        }
        var decoder = RESPDecoder()
        var values: [RESPValue] = []
        for byte in text { values += try decoder.feed([byte]) }
        XCTAssertEqual(values, expected)
    }

    func testMalformedAndOversizedInputIsRefused() {
        var limits = RESPDecoder.Limits()
        limits.maxBulk = 16
        limits.maxArray = 4
        limits.maxDepth = 2
        limits.maxLine = 8
        limits.maxValueBytes = 64
        let refused = [
            "?x\r\n", "+OK\rX", ":12a\r\n", ":\r\n", ":1234567890123456789\r\n", "$-2\r\n", "$17\r\n",
            "$3\r\nabcd\r\n", "*5\r\n", "*-7\r\n", "*1\r\n*1\r\n*1\r\n:1\r\n", "+123456789\r\n",
            "*4\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n$16\r\n0123456789abcdef\r\n",
        ]
        for text in refused {
            var decoder = RESPDecoder(limits: limits)
            XCTAssertThrowsError(try decoder.feed(Array(text.utf8)), text)
        }
    }

    /// 20,000 random and mutated inputs (fixed seeds): each decodes or is refused, in bounded time, never traps.
    func testFuzzedInputNeverTraps() {
        var random = SplitMix64(seed: 0x5EED_2ED1)
        let seeds = [
            "*4\r\n$8\r\npmessage\r\n$3\r\np:*\r\n$3\r\np:z\r\n$2\r\nhi\r\n", "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nkey\r\n",
            "+OK\r\n", ":1\r\n", "$-1\r\n", "*-1\r\n", "-ERR x\r\n",
        ].map { Array($0.utf8) }
        var decoded = 0
        for round in 0..<20_000 {
            var input: [UInt8]
            if round % 2 == 0 {
                input = seeds[Int(random.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + random.next() % 4) where !input.isEmpty {
                    let at = Int(random.next() % UInt64(input.count))
                    switch random.next() % 3 {
                    case 0: input[at] = UInt8(truncatingIfNeeded: random.next())
                    case 1: input.remove(at: at)
                    default: input.insert(Array("*$:+-\r\n0123456789-".utf8)[Int(random.next() % 18)], at: at)
                    }
                }
            } else {
                input = (0..<Int(random.next() % 64)).map { _ in
                    Array("*$:+-\r\n0123456789-ab".utf8)[Int(random.next() % 20)]
                }
            }
            var decoder = RESPDecoder()
            var pieces = input[...]
            do {
                while !pieces.isEmpty {
                    let size = min(pieces.count, 1 + Int(random.next() % 7))
                    decoded += try decoder.feed(pieces.prefix(size)).count
                    pieces = pieces.dropFirst(size)
                }
            } catch {}
        }
        XCTAssertGreaterThan(decoded, 1000, "many inputs still decode")
    }

    func testCommandEncoding() {
        XCTAssertEqual(String(decoding: RESPCommand.encode(["SET", "k", "v w"]), as: UTF8.self),
                       "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv w\r\n")
        var out: [UInt8] = []
        RESPCommand.encode([[0x00, 0x0D, 0x0A]], into: &out)
        var decoder = RESPDecoder()
        XCTAssertEqual(try decoder.feed(out), [.array([.bulk([0x00, 0x0D, 0x0A])])], "binary-safe")
    }
}
