import MaitreBalancing
import XCTest

@testable import MaitreWire

/// Mutated and random request heads never trap the parser, and what it reports stays inside the bytes it was
/// given: a malformed request must cost a 4xx, never the process. Deterministic (fixed seed), bounded in count.
final class RequestHeadFuzzTests: XCTestCase {

    private let seeds: [[UInt8]] = [
        "GET /a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nExpect: 100-continue\r\n\r\nhello world!",
        "PUT /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-A\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "GET http://h.example:8080/p HTTP/1.0\nX_Y: 1\nNoColon\n\n",
    ].map { Array($0.utf8) }

    private let alphabet: [UInt8] = Array(" \t\r\n:;,/?#=\"\\\0\u{7f}".utf8) + [0x80, 0xFF, 0x01] + Array("GETHTP1.0a-Z9".utf8)

    /// Parses and checks one input; returns what the parser said.
    @discardableResult
    private func check(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> RequestParseResult {
        var head = RequestHead()
        let result = bytes.withUnsafeBytes {
            RequestHeadParser.parse($0, into: &head, lineLimit: 256, headLimit: 1024)
        }
        guard case .complete = result else { return result }
        XCTAssertLessThanOrEqual(head.length, bytes.count, file: file, line: line)
        XCTAssertTrue(head.methodStart < head.methodEnd && head.methodEnd <= head.targetStart, file: file, line: line)
        XCTAssertTrue(head.targetStart < head.targetEnd && head.targetEnd <= head.length, file: file, line: line)
        for field in head.fields {
            XCTAssertTrue(field.nameStart < field.nameEnd && field.nameEnd < field.valueStart, file: file, line: line)
            XCTAssertTrue(field.valueStart <= field.valueEnd && field.valueEnd <= head.length, file: file, line: line)
            for i in field.valueStart..<field.valueEnd {
                XCTAssertTrue(bytes[i] != UInt8(ascii: "\r") && bytes[i] != 0, "no CR or NUL in values", file: file, line: line)
            }
        }
        if let host = head.hostField {
            XCTAssertLessThan(host, head.fields.count, file: file, line: line)
            let field = head.fields[host]
            _ = bytes.withUnsafeBytes { HostName.validate($0, field.valueStart, field.valueEnd) }
        }
        if head.isChunked {
            var scanner = ChunkedScanner()
            let body = Array(bytes[head.length...])
            _ = try? body.withUnsafeBytes { raw in try scanner.scan(raw) { XCTAssertLessThanOrEqual($0.upperBound, raw.count) } }
        }
        return result
    }

    /// 20,000 mutations of valid heads: replaced, inserted and deleted bytes, and truncations.
    func testMutatedHeads() {
        var rng = SplitMix64(seed: 0x4D41_4954_5245)
        var complete = 0
        var invalid = 0
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let position = Int.random(in: 0..<bytes.count, using: &rng)
                let byte = alphabet.randomElement(using: &rng)!
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[position] = byte
                case 1: bytes.insert(byte, at: position)
                case 2: if bytes.count > 1 { bytes.remove(at: position) }
                default: bytes = Array(bytes.prefix(position + 1))
                }
            }
            switch check(bytes) {
            case .complete: complete += 1
            case .invalid: invalid += 1
            case .incomplete: break
            }
        }
        // The mutations reach both the accepting and the refusing paths.
        XCTAssertGreaterThan(complete, 1_000)
        XCTAssertGreaterThan(invalid, 1_000)
    }

    /// 5,000 random byte strings, including ones longer than the limits.
    func testRandomBytes() {
        var rng = SplitMix64(seed: 0x0F0F_1234)
        for _ in 0..<5_000 {
            let count = Int.random(in: 0...1400, using: &rng)
            var bytes: [UInt8] = Array("GET / HTTP/1.1\r\n".utf8)
            for _ in 0..<count { bytes.append(alphabet.randomElement(using: &rng)!) }
            check(bytes)
        }
    }
}
