import MaitreWire
import NIOCore
import XCTest

@testable import MaitreProxy

/// The access log's one-pass index of a head's lines gives the same header values as scanning the head per
/// variable, including past its capacity (where it falls back to the scan).
final class HeaderLinesTests: XCTestCase {
    private func record(_ text: String) throws -> RequestRecord {
        parsedRequest(text).record
    }

    private func assertSameValues(_ text: String, names: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let request = try record(text)
        let lines = HeaderLines()
        for name in names {
            let scanned = request.headerValues(named: name)
            XCTAssertEqual(request.headerValues(named: name, lines: lines), scanned, name, file: file, line: line)
            XCTAssertEqual(request.firstHeaderValue(named: name, lines: lines), scanned.first, name, file: file, line: line)
        }
    }

    func testIndexedValuesMatchTheScan() throws {
        let browser = "GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nUser-Agent: Mozilla/5.0 (X11)\r\nAccept: */*\r\n"
            + "Referer:   https://shop/list  \r\nCookie: a=1; b=2\r\ncookie:c=3\r\nX-Forwarded-For: 10.0.0.1\r\n"
            + "x_note: under\r\nAuthorization: Basic dXNlcjpwdw==\r\nEmpty:\r\n\r\n"
        let names = ["host", "user_agent", "referer", "cookie", "x_forwarded_for", "x_note", "authorization", "empty",
                     "absent", "accept"]
        try assertSameValues(browser, names: names)
        XCTAssertEqual(try record(browser).headerValues(named: "cookie", lines: HeaderLines()), ["a=1; b=2", "c=3"])
        XCTAssertEqual(try record(browser).firstHeaderValue(named: "referer", lines: HeaderLines()), "https://shop/list")
        // Bare LF line ends.
        try assertSameValues("GET / HTTP/1.0\nHost: h\nUser-Agent: lf\n\n", names: ["host", "user_agent", "absent"])
    }

    /// Names holding `_` are found only when the parser kept them (`underscores_in_headers on`, or
    /// `ignore_invalid_headers off`): nginx drops them otherwise, so `$http_x_note` must not see one.
    func testUnderscoreNamesOnlyWhenKept() throws {
        let text = "GET / HTTP/1.1\r\nHost: h\r\nx_note: under\r\nX-Note: dash\r\n\r\n"
        let dropped = try record(text)
        XCTAssertTrue(dropped.dropsUnderscoreNames, "nginx's defaults")
        XCTAssertEqual(dropped.headerValues(named: "x_note"), ["dash"])
        XCTAssertEqual(dropped.headerValues(named: "x_note", lines: HeaderLines()), ["dash"])
        let bytes = ByteBuffer(string: text)
        var head = RequestHead()
        XCTAssertEqual(bytes.withUnsafeReadableBytes { RequestHeadParser.parse($0, into: &head, underscoresInNames: true) },
                       .complete)
        let kept = RequestRecord(bytes: bytes, head: head, dropsUnderscoreNames: false)
        XCTAssertEqual(kept.headerValues(named: "x_note"), ["under", "dash"])
        XCTAssertEqual(kept.headerValues(named: "x_note", lines: HeaderLines()), ["under", "dash"])
    }

    /// A head with more lines than the index holds: every lookup still finds every value (by the scan).
    func testLongHeadFallsBackToTheScan() throws {
        var text = "GET / HTTP/1.1\r\nHost: h\r\n"
        for index in 0..<(HeaderLines.capacity + 20) { text += "X-Line-\(index): v\(index)\r\n" }
        text += "User-Agent: last\r\n\r\n"
        try assertSameValues(text, names: ["host", "x_line_0", "x_line_140", "user_agent"])
        XCTAssertEqual(try record(text).firstHeaderValue(named: "user_agent", lines: HeaderLines()), "last")
    }

    /// The index belongs to one head: after a reset it reads the next one.
    func testResetReadsTheNextHead() throws {
        let lines = HeaderLines()
        let first = try record("GET / HTTP/1.1\r\nHost: one\r\n\r\n")
        let second = try record("GET / HTTP/1.1\r\nX-Pad: 0123456789\r\nHost: two\r\n\r\n")
        XCTAssertEqual(first.firstHeaderValue(named: "host", lines: lines), "one")
        lines.reset()
        XCTAssertEqual(second.firstHeaderValue(named: "host", lines: lines), "two")
    }
}
