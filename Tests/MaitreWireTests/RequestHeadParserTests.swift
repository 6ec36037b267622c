import XCTest

@testable import MaitreWire

/// The client request head parser: what it extracts, what it ignores and what it refuses (nginx's answers).
final class RequestHeadParserTests: XCTestCase {
    private func parse(_ text: String, lineLimit: Int = 8192, headLimit: Int = 32768) -> (RequestParseResult, RequestHead, [UInt8]) {
        let bytes = Array(text.utf8)
        var head = RequestHead()
        let result = bytes.withUnsafeBytes {
            RequestHeadParser.parse($0, into: &head, lineLimit: lineLimit, headLimit: headLimit)
        }
        return (result, head, bytes)
    }

    private func string(_ bytes: [UInt8], _ start: Int, _ end: Int) -> String {
        String(decoding: bytes[start..<end], as: UTF8.self)
    }

    private func names(_ head: RequestHead, _ bytes: [UInt8]) -> [String] {
        head.fields.map { string(bytes, $0.nameStart, $0.nameEnd) }
    }

    /// Method, target, version, fields as offsets, and the head's length (the body is not part of it).
    func testSimpleRequest() {
        let text = "POST /a/b?c=1 HTTP/1.1\r\nHost: example.com\r\nContent-Length:  3 \r\nX-A:b\r\n\r\nabc"
        let (result, head, bytes) = parse(text)
        XCTAssertEqual(result, .complete)
        XCTAssertEqual(string(bytes, head.methodStart, head.methodEnd), "POST")
        XCTAssertEqual(string(bytes, head.targetStart, head.targetEnd), "/a/b?c=1")
        XCTAssertEqual(head.versionMinor, 1)
        XCTAssertEqual(names(head, bytes), ["Host", "Content-Length", "X-A"])
        XCTAssertEqual(string(bytes, head.fields[1].valueStart, head.fields[1].valueEnd), "3")
        XCTAssertEqual(string(bytes, head.fields[2].valueStart, head.fields[2].valueEnd), "b")
        XCTAssertEqual(head.hostField, 0)
        XCTAssertEqual(head.contentLength, 3)
        XCTAssertTrue(head.hasBody)
        XCTAssertEqual(head.length, text.utf8.count - 3)
        XCTAssertTrue(head.isKeepAlive)
    }

    /// Every prefix of a head is incomplete; only the whole is complete.
    func testEveryPrefixIsIncomplete() {
        let text = "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n"
        for n in 0..<text.utf8.count {
            XCTAssertEqual(parse(String(decoding: Array(text.utf8).prefix(n), as: UTF8.self)).0, .incomplete, "prefix \(n)")
        }
        XCTAssertEqual(parse(text).0, .complete)
    }

    /// What nginx accepts: leading blank lines, bare LF, several spaces, trailing spaces, HTTP/1.2 as 1.1.
    func testLenientWhereNginxIs() {
        let leading = parse("\r\n\nGET /x HTTP/1.0\r\n\r\n")
        XCTAssertEqual(leading.0, .complete)
        XCTAssertEqual(string(leading.2, leading.1.methodStart, leading.1.methodEnd), "GET")
        XCTAssertEqual(leading.1.versionMinor, 0)
        XCTAssertFalse(leading.1.isKeepAlive)
        XCTAssertEqual(parse("GET /x HTTP/1.1\nHost: a\n\n").0, .complete)
        let spaced = parse("GET   /x   HTTP/1.1  \r\nHost: a\r\n\r\n")
        XCTAssertEqual(spaced.0, .complete)
        XCTAssertEqual(string(spaced.2, spaced.1.targetStart, spaced.1.targetEnd), "/x")
        XCTAssertEqual(parse("GET /x HTTP/1.2\r\n\r\n").1.versionMinor, 1)
        XCTAssertEqual(parse("GET /x HTTP/1.10\r\n\r\n").0, .complete)
        // Control bytes other than CR and NUL pass in values, as nginx passes them.
        XCTAssertEqual(parse("GET /x HTTP/1.1\r\nX-A: a\u{01}b\r\n\r\n").0, .complete)
    }

    /// Lines nginx ignores with its defaults are left out of the fields, not refused.
    func testIgnoredLines() {
        let (result, head, bytes) = parse("GET / HTTP/1.1\r\nX_Under: 1\r\nX.Dot: 2\r\nNoColon\r\nX-Ok: 3\r\n\r\n")
        XCTAssertEqual(result, .complete)
        XCTAssertEqual(names(head, bytes), ["X-Ok"])
    }

    /// underscores_in_headers on keeps `_` names; ignore_invalid_headers off keeps token names nginx would ignore
    /// and refuses what is not a token or has no colon.
    func testUnderscoresAndInvalidNamesSettings() {
        func parse(_ text: String, underscores: Bool, ignore: Bool) -> (RequestParseResult, [String]) {
            let bytes = Array(text.utf8)
            var head = RequestHead()
            let result = bytes.withUnsafeBytes {
                RequestHeadParser.parse($0, into: &head, underscoresInNames: underscores, ignoreInvalidNames: ignore)
            }
            return (result, head.fields.map { String(decoding: bytes[$0.nameStart..<$0.nameEnd], as: UTF8.self) })
        }
        let text = "GET / HTTP/1.1\r\nX_Under: 1\r\nX.Dot: 2\r\nX-Ok: 3\r\n\r\n"
        XCTAssertEqual(parse(text, underscores: true, ignore: true).1, ["X_Under", "X-Ok"])
        XCTAssertEqual(parse(text, underscores: false, ignore: false).1, ["X_Under", "X.Dot", "X-Ok"])
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nNoColon\r\n\r\n", underscores: false, ignore: false).0,
                       .invalid(.invalidHeader))
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX\u{01}Y: 1\r\n\r\n", underscores: false, ignore: false).0,
                       .invalid(.invalidHeader))
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nX\u{01}Y: 1\r\n\r\n", underscores: false, ignore: true).1, [])
    }

    /// Connection tokens, Expect and chunked framing are recorded.
    func testConnectionExpectAndChunked() {
        let (_, head, _) = parse("POST / HTTP/1.1\r\nConnection: Keep-Alive, close\r\nExpect: 100-Continue\r\n"
                                 + "Transfer-Encoding: Chunked\r\n\r\n")
        XCTAssertTrue(head.connectionClose)
        XCTAssertTrue(head.connectionKeepAlive)
        XCTAssertFalse(head.isKeepAlive)
        XCTAssertEqual(head.connectionFields, [0])
        XCTAssertTrue(head.expectsContinue)
        XCTAssertTrue(head.isChunked)
        XCTAssertEqual(head.transferEncodingField, 2)
        XCTAssertFalse(parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").1.isChunked)
        XCTAssertTrue(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").1.isKeepAlive)
    }

    /// What nginx refuses, with its status.
    func testRefused() {
        let cases: [(String, RequestHeadError)] = [
            ("get / HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("G@T / HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET / http/1.1\r\n\r\n", .invalidRequestLine),
            ("GET /\r\n\r\n", .invalidRequestLine),
            ("GET /a b HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET /a\u{01} HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET\t/ HTTP/1.1\r\n\r\n", .invalidRequestLine),
            ("GET / HTTP/01.1\r\n\r\n", .invalidRequestLine),
            ("GET / HTTP/1.\r\n\r\n", .invalidRequestLine),
            ("GET / HTTP/1.1\rX\r\n\r\n", .invalidRequestLine),
            ("GET / HTTP/2.0\r\n\r\n", .versionNotSupported),
            ("GET / HTTP/1.1\r\nA: 1\r\n folded\r\n\r\n", .invalidHeader),
            ("GET / HTTP/1.1\r\nA : 1\r\n\r\n", .invalidHeader),
            ("GET / HTTP/1.1\r\n: 1\r\n\r\n", .invalidHeader),
            ("GET / HTTP/1.1\r\nA: x\ry\r\n\r\n", .invalidHeader),
            ("GET / HTTP/1.1\r\nA: x\u{00}y\r\n\r\n", .invalidHeader),
            ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", .duplicateHeader("Host")),
            ("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", .duplicateHeader("Content-Length")),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
             .duplicateHeader("Transfer-Encoding")),
            ("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", .invalidContentLength),
            ("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", .invalidContentLength),
        ]
        for (text, error) in cases {
            XCTAssertEqual(parse(text).0, .invalid(error), text.debugDescription)
        }
        XCTAssertEqual(RequestHeadError.versionNotSupported.status, 505)
        XCTAssertEqual(RequestHeadError.requestLineTooLong.status, 414)
        XCTAssertEqual(RequestHeadError.duplicateHeader("Host").status, 400)
    }

    /// A refused head still says what nginx had read of it (for its log line): `length` is nginx's
    /// `$request_length` by then, `acceptedLength` where the lines it took end, and `fields` holds those lines.
    func testARefusedHeadKeepsWhatNginxHadTaken() {
        let invalid = parse("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\nUser-Agent: u\r\n\r\n")
        XCTAssertEqual(invalid.0, .invalid(.invalidHeader))
        XCTAssertEqual(invalid.1.length, 25)
        XCTAssertEqual(invalid.1.acceptedLength, 25)
        XCTAssertEqual(names(invalid.1, invalid.2), ["Host"])

        // A duplicate is counted (nginx takes the line, then refuses it) but not among the fields.
        let duplicate = parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        XCTAssertEqual(duplicate.0, .invalid(.duplicateHeader("Host")))
        XCTAssertEqual(duplicate.1.length, 34)
        XCTAssertEqual(duplicate.1.acceptedLength, 25)
        XCTAssertEqual(names(duplicate.1, duplicate.2), ["Host"])

        // A malformed Content-Length is refused once the head is complete, with every line read.
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: x\r\nUser-Agent: u\r\n").0, .incomplete)
        let length = parse("POST / HTTP/1.1\r\nContent-Length: x\r\nUser-Agent: u\r\n\r\n")
        XCTAssertEqual(length.0, .invalid(.invalidContentLength))
        XCTAssertEqual(length.1.length, 53)
        XCTAssertEqual(length.1.acceptedLength, 53)
        XCTAssertEqual(names(length.1, length.2), ["Content-Length", "User-Agent"])
        XCTAssertEqual(parse("POST / HTTP/1.1\r\nContent-Length: x\r\nContent-Length: 1\r\n\r\n").0,
                       .invalid(.duplicateHeader("Content-Length")))

        let line = parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n")
        XCTAssertEqual(line.0, .invalid(.versionNotSupported))
        XCTAssertEqual(line.1.length, 0)
        XCTAssertEqual(line.1.acceptedLength, 0)
    }

    /// nginx's large_client_header_buffers: a long request line is 414, a long header line or head 400 (494),
    /// and that is known before the blank line arrives.
    func testLimits() {
        let longTarget = "GET /" + String(repeating: "a", count: 100)
        XCTAssertEqual(parse(longTarget, lineLimit: 64).0, .invalid(.requestLineTooLong))
        XCTAssertEqual(parse(longTarget + " HTTP/1.1\r\n\r\n", lineLimit: 64).0, .invalid(.requestLineTooLong))
        XCTAssertEqual(parse(longTarget, lineLimit: 200).0, .incomplete)
        let longField = "GET / HTTP/1.1\r\nA: " + String(repeating: "b", count: 100)
        XCTAssertEqual(parse(longField, lineLimit: 64).0, .invalid(.headerTooLarge))
        var many = "GET / HTTP/1.1\r\n"
        for i in 0..<20 { many += "X-\(i): 0123456789\r\n" }
        XCTAssertEqual(parse(many + "\r\n", lineLimit: 64, headLimit: 200).0, .invalid(.headerTooLarge))
        XCTAssertEqual(parse(many, lineLimit: 64, headLimit: 200).0, .invalid(.headerTooLarge))
        XCTAssertEqual(parse(many + "\r\n", lineLimit: 64, headLimit: 1000).0, .complete)
    }

    /// The field array keeps its capacity between heads (no allocation per request once grown).
    func testReuseKeepsCapacity() {
        var head = RequestHead()
        let text = Array("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n".utf8)
        _ = text.withUnsafeBytes { RequestHeadParser.parse($0, into: &head) }
        let capacity = head.fields.capacity
        _ = text.withUnsafeBytes { RequestHeadParser.parse($0, into: &head) }
        XCTAssertEqual(head.fields.count, 2)
        XCTAssertEqual(head.fields.capacity, capacity)
    }
}
