import XCTest

@testable import MaitreWire

/// The upstream response head parser: what it extracts and what it refuses.
final class ResponseHeadParserTests: XCTestCase {
    private func parse(_ text: String, maxLength: Int = 4096) -> (HeadParseResult, ResponseHead, [UInt8]) {
        let bytes = Array(text.utf8)
        var head = ResponseHead()
        let result = bytes.withUnsafeBytes { ResponseHeadParser.parse($0, into: &head, maxLength: maxLength) }
        return (result, head, bytes)
    }

    private func string(_ bytes: [UInt8], _ start: Int, _ end: Int) -> String {
        String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Status, reason, fields as offsets, Content-Length and the head's length.
    func testSimpleResponse() {
        let text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length:  12 \r\nX-A: b\r\n\r\nhello world!"
        let (result, head, bytes) = parse(text)
        XCTAssertEqual(result, .complete)
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.versionMinor, 1)
        XCTAssertEqual(string(bytes, head.reasonStart, head.reasonEnd), "OK")
        XCTAssertEqual(head.fields.count, 3)
        XCTAssertEqual(string(bytes, head.fields[1].nameStart, head.fields[1].nameEnd), "Content-Length")
        XCTAssertEqual(string(bytes, head.fields[1].valueStart, head.fields[1].valueEnd), "12")
        XCTAssertEqual(head.contentLength, 12)
        XCTAssertEqual(head.length, text.utf8.count - 12)
        XCTAssertTrue(head.keepsConnection)
    }

    /// No blank line yet: incomplete; past the limit without one: too big.
    func testIncompleteAndTooBig() {
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nA: b\r\n").0, .incomplete)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nA: " + String(repeating: "b", count: 100), maxLength: 64).0,
                       .invalid("upstream sent too big header"))
    }

    /// Ambiguous or malformed heads are refused rather than forwarded.
    func testRejectsAmbiguousHeads() {
        XCTAssertNotEqual(parse("HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n").0, .complete, "obsolete folding")
        XCTAssertNotEqual(parse("HTTP/1.1 200 OK\r\nA : b\r\n\r\n").0, .complete, "space before colon")
        XCTAssertNotEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").0, .complete)
        XCTAssertNotEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n").0, .complete)
        XCTAssertNotEqual(parse("HTTP/2 200 OK\r\n\r\n").0, .complete)
        XCTAssertNotEqual(parse("HTTP/1.1 2x0 OK\r\n\r\n").0, .complete)
        XCTAssertNotEqual(parse("garbage\r\n\r\n").0, .complete)
        // As nginx: even an equal second Content-Length is refused.
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n").0,
                       .invalid("upstream sent duplicate header line: \"Content-Length\""))
        XCTAssertEqual(parse("http/1.1 200 OK\r\n\r\n").0, .invalid("upstream sent no valid HTTP/1.0 header"),
                       "the protocol name is case-sensitive, as nginx's")
    }

    /// Transfer-Encoding wins over Content-Length; chunked only when it is the last coding.
    func testFraming() {
        // nginx's rules (ngx_http_proxy_process_header, ngx_http_upstream_process_transfer_encoding): exactly
        // `chunked`, once, never with Content-Length.
        let chunked = parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n")
        XCTAssertEqual(chunked.0, .complete)
        XCTAssertTrue(chunked.1.isChunked)
        XCTAssertNil(chunked.1.contentLength)
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").0,
                       .invalid("upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n").0,
                       .invalid("upstream sent \"Content-Length\" and \"Transfer-Encoding\" headers at the same time"))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").0,
                       .invalid("upstream sent unknown \"Transfer-Encoding\""))
        XCTAssertEqual(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n").0,
                       .invalid("upstream sent duplicate header line: \"Transfer-Encoding\""))
    }

    /// Connection semantics by version, and the Connection fields remembered for hop-by-hop removal.
    func testConnectionTokens() {
        let old = parse("HTTP/1.0 200 OK\r\n\r\n").1
        XCTAssertFalse(old.keepsConnection)
        let oldKeep = parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n").1
        XCTAssertTrue(oldKeep.keepsConnection)
        let close = parse("HTTP/1.1 200 OK\r\nConnection: x-secret, close\r\nX-Secret: 1\r\n\r\n").1
        XCTAssertFalse(close.keepsConnection)
        XCTAssertEqual(close.connectionFields, [0])
    }
}
