import Foundation
import XCTest

/// Log lines of requests whose head is refused (400, 505): as nginx writes them, `$request` is the request line
/// (or the first line as received, escaped, when even that could not be parsed), `$http_*` are the header lines
/// taken before the refused one, `$request_length` counts what nginx had counted, and the line goes to the
/// default server's log even when an earlier request on the connection went to a location with its own.
/// The expected lines are nginx 1.22.1's for the same bytes.
final class RefusedRequestLogTests: ProxyTestCase {
    private var logPath: String { harness!.directory + "/access.log" }

    private func start() throws {
        harness = try ProxyHarness("""
            http {
                log_format t '"$request" $status [$http_host] [$http_user_agent] [$http_x_dash] $request_length';
                access_log TMP/access.log t;
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { return 200 "ok"; }
                    location /own { access_log TMP/own.log t; return 200 "own"; }
                }
            }
            """)
    }

    /// Sends `text` on a new connection, expects the response's status and a close, and returns the log line it
    /// added.
    private func refused(_ text: String, status: Int, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let before = lines().count
        let client = try harness!.client()
        try client.send(text)
        let (bytes, _) = client.readUntilClose()
        let answer = String(decoding: bytes, as: UTF8.self)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 \(status) "), answer, file: file, line: line)
        _ = eventually(5) { self.lines().count > before }
        let logged = lines()
        XCTAssertEqual(logged.count, before + 1, "one line per refused request", file: file, line: line)
        return logged.last ?? ""
    }

    private func lines() -> [String] {
        (readFile(logPath) ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    func testAnInvalidHeaderLineKeepsTheLinesBeforeIt() throws {
        try start()
        let logged = try refused(
            "GET /p?q=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: scan/1\r\nX-Dash: d\r\nBad Header: sp\r\n\r\n", status: 400)
        XCTAssertEqual(logged, #""GET /p?q=1 HTTP/1.1" 400 [a] [scan/1] [d] 61"#)
    }

    func testADuplicateHostIsCountedButNotShown() throws {
        try start()
        let logged = try refused("GET /p HTTP/1.1\r\nHost: a\r\nUser-Agent: scan/2\r\nHost: b\r\n\r\n", status: 400)
        XCTAssertEqual(logged, #""GET /p HTTP/1.1" 400 [a] [scan/2] [-] 55"#)
    }

    /// nginx refuses a malformed Content-Length only once the head is complete: the lines after it are logged too.
    func testAMalformedContentLengthIsRefusedAfterTheWholeHead() throws {
        try start()
        let logged = try refused(
            "GET /p HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\nUser-Agent: scan/4\r\n\r\n", status: 400)
        XCTAssertEqual(logged, #""GET /p HTTP/1.1" 400 [a] [scan/4] [-] 67"#)
    }

    /// A TLS ClientHello on a plain listener, the most common refused request in real logs.
    func testAnUnparsableFirstLineIsLoggedAsReceivedAndEscaped() throws {
        try start()
        let logged = try refused("\u{16}\u{03}\u{01}\u{00}\u{05}GET\r\n\r\n", status: 400)
        XCTAssertEqual(logged, #""\x16\x03\x01\x00\x05GET" 400 [-] [-] [-] 0"#)
        let version = try refused("GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: 505)
        XCTAssertEqual(version, #""GET / HTTP/2.0" 505 [-] [-] [-] 0"#)
    }

    /// The request line's parts are "-" when the line could not be parsed, and `$args` is "-" when empty.
    func testRequestLinePartsOfARefusedLineAndAnEmptyQuery() throws {
        harness = try ProxyHarness("""
            http {
                log_format parts '"$request" [$request_method] [$request_uri] [$uri] [$args] $status';
                access_log TMP/access.log parts;
                server { listen 127.0.0.1:PROXY_PORT; location / { return 200 "ok"; } }
            }
            """)
        XCTAssertEqual(try refused("GET /a?b=1 HTTP/2.0\r\nHost: a\r\n\r\n", status: 505),
                       #""GET /a?b=1 HTTP/2.0" [-] [-] [-] [-] 505"#)
        XCTAssertEqual(try refused("GET /a?b=1 HTTP/1.1\r\nHost: a\r\nBad Header: 1\r\n\r\n", status: 400),
                       #""GET /a?b=1 HTTP/1.1" [GET] [/a?b=1] [/a] [b=1] 400"#)
        for (target, args) in [("/a", "-"), ("/a?", "-"), ("/a?x=1", "x=1")] {
            let before = lines().count
            let client = try harness!.client()
            try client.send("GET \(target) HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            XCTAssertEqual(try client.readResponse().status, 200)
            _ = eventually(5) { self.lines().count > before }
            XCTAssertEqual(lines().last, "\"GET \(target) HTTP/1.1\" [GET] [\(target)] [/a] [\(args)] 200")
        }
    }

    /// A keep-alive connection whose earlier request was logged by a location's own `access_log`: the refused
    /// head has no location, so its line goes to the server's log, and nothing of the earlier request shows.
    func testARefusedHeadAfterARoutedRequestGoesToTheServersLog() throws {
        try start()
        let client = try harness!.client()
        let own = try client.request("GET", "/own", headers: [("User-Agent", "first")])
        XCTAssertEqual(own.status, 200)
        _ = eventually(5) { (readFile(self.harness!.directory + "/own.log") ?? "").contains("first") }
        try client.send("GET /again HTTP/1.1\r\nUser-Agent: second\r\nBad Header: x\r\n\r\n")
        let (bytes, _) = client.readUntilClose()
        XCTAssertTrue(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 400 "))
        _ = eventually(5) { !self.lines().isEmpty }
        XCTAssertEqual(lines(), [#""GET /again HTTP/1.1" 400 [-] [second] [-] 41"#])
        let ownLines = (readFile(harness!.directory + "/own.log") ?? "").split(separator: "\n")
        XCTAssertEqual(ownLines.count, 1, "the refused head is not logged where the earlier request was")
    }
}
