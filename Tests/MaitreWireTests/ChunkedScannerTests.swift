import XCTest

@testable import MaitreWire

/// The chunked body scanner finds the data and the end however the bytes are split.
final class ChunkedScannerTests: XCTestCase {
    private func scan(_ pieces: [String]) throws -> (data: String, consumed: [Int], complete: Bool) {
        var scanner = ChunkedScanner()
        var data = ""
        var consumed: [Int] = []
        for piece in pieces {
            let bytes = Array(piece.utf8)
            let n = try bytes.withUnsafeBytes { raw in
                try scanner.scan(raw) { range in data += String(decoding: bytes[range], as: UTF8.self) }
            }
            consumed.append(n)
        }
        return (data, consumed, scanner.isComplete)
    }

    /// One piece, with an extension and a trailer; bytes after the end are not consumed.
    func testWholeBody() throws {
        let body = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        let r = try scan([body + "NEXT"])
        XCTAssertEqual(r.data, "hello world")
        XCTAssertEqual(r.consumed, [body.utf8.count])
        XCTAssertTrue(r.complete)
    }

    /// Fed one byte at a time: same data, same end.
    func testByteByByte() throws {
        let body = "a\r\n0123456789\r\n1\r\nX\r\n0\r\n\r\n"
        let r = try scan(body.map { String($0) })
        XCTAssertEqual(r.data, "0123456789X")
        XCTAssertTrue(r.complete)
    }

    /// Not yet ended: incomplete; malformed sizes and missing CRLFs are errors.
    func testIncompleteAndInvalid() throws {
        XCTAssertFalse(try scan(["5\r\nhel"]).complete)
        XCTAssertThrowsError(try scan(["z\r\n"]))
        XCTAssertThrowsError(try scan(["5\r\nhelloXX"]))
        XCTAssertThrowsError(try scan(["5\nhello\r\n"]))
        XCTAssertThrowsError(try scan(["1000000000000000\r\n"]))
    }
}
