import Foundation
import XCTest

/// The access log on real requests, field by field: the article's `upstreamlog` format for a normal request, a
/// retried one (two upstream addresses), a 502 and a 504; JSON escaping; `off`, `if=`, `buffer=`/`flush=`; and
/// `-s reopen` after the file was moved away.
final class AccessLogIntegrationTests: ProxyTestCase {
    private static let articleFormat = """
        log_format upstreamlog '$remote_addr - $remote_user [$time_local] '
                               '"$request" $status $body_bytes_sent '
                               '"$http_referer" "$http_user_agent" '
                               'upstream: $upstream_addr '
                               'upstream_response_time: $upstream_response_time '
                               'request_time: $request_time';
        """

    private var logPath: String { harness!.directory + "/access.log" }

    private func lines(_ path: String? = nil) -> [String] {
        (readFile(path ?? logPath) ?? "").split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// Waits for the log to hold `count` lines.
    private func waitForLines(_ count: Int, _ path: String? = nil) -> [String] {
        _ = eventually(5) { lines(path).count >= count }
        return lines(path)
    }

    /// `127.0.0.1 - - [29/Nov/2026:11:50:00 +0000] "GET /a HTTP/1.1" 200 2 "-" "ua" upstream: A
    /// upstream_response_time: T request_time: R`, with the parts checked one by one.
    private func assertArticleLine(
        _ line: String, request: String, status: Int, upstream: String, times: Int,
        file: StaticString = #filePath, lineNumber: UInt = #line
    ) {
        let pattern = #"^127\.0\.0\.1 - - \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)" upstream: (.*) upstream_response_time: (.*) request_time: (\d+\.\d{3})$"#
        guard let regex = try? NSRegularExpression(pattern: pattern),
            let match = regex.firstMatch(in: line, range: NSRange(line.startIndex..., in: line))
        else { return XCTFail("not the article's format: \(line)", file: file, line: lineNumber) }
        func group(_ index: Int) -> String {
            Range(match.range(at: index), in: line).map { String(line[$0]) } ?? ""
        }
        XCTAssertEqual(group(2), request, file: file, line: lineNumber)
        XCTAssertEqual(group(3), String(status), file: file, line: lineNumber)
        XCTAssertEqual(group(5), "-", "no Referer: nginx's dash", file: file, line: lineNumber)
        XCTAssertEqual(group(6), "test-agent/1.0", file: file, line: lineNumber)
        XCTAssertEqual(group(7), upstream, file: file, line: lineNumber)
        let responseTimes = group(8).components(separatedBy: ", ")
        XCTAssertEqual(responseTimes.count, times, "one time per attempt: \(group(8))", file: file, line: lineNumber)
        for time in responseTimes {
            XCTAssertNotNil(time.range(of: #"^\d+\.\d{3}$"#, options: .regularExpression), time, file: file, line: lineNumber)
        }
    }

    func testTheArticlesFormatFieldByField() throws {
        let good = try TestBackend(name: "good", group: group)
        let deadPort = try freeLoopbackPort()
        let slow = try TestBackend(name: "slow", group: group, delay: .milliseconds(600))
        backends = [good, slow]
        harness = try ProxyHarness("""
            http {
            \(Self.articleFormat)
                access_log TMP/access.log upstreamlog;
                upstream pool { server 127.0.0.1:\(deadPort); server \(good.address); }
                upstream dead { server 127.0.0.1:\(deadPort); }
                upstream slow { server \(slow.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://pool; }
                    location /dead { proxy_pass http://dead; }
                    location /slow { proxy_pass http://slow; proxy_read_timeout 200ms; }
                }
            }
            """)
        let agent = [("User-Agent", "test-agent/1.0")]
        // The first request meets the dead server first (round robin), fails over, and is answered by `good`.
        XCTAssertEqual(try harness!.get("/first", headers: agent).status, 200)
        XCTAssertEqual(try harness!.get("/second", headers: agent).status, 200)
        XCTAssertEqual(try harness!.get("/dead", headers: agent).status, 502)
        XCTAssertEqual(try harness!.get("/slow", headers: agent).status, 504)
        let logged = waitForLines(4)
        XCTAssertEqual(logged.count, 4, logged.joined(separator: "\n"))
        guard logged.count == 4 else { return }
        assertArticleLine(logged[0], request: "GET /first HTTP/1.1", status: 200,
                          upstream: "127.0.0.1:\(deadPort), \(good.address)", times: 2)
        assertArticleLine(logged[1], request: "GET /second HTTP/1.1", status: 200, upstream: good.address, times: 1)
        assertArticleLine(logged[2], request: "GET /dead HTTP/1.1", status: 502,
                          upstream: "127.0.0.1:\(deadPort)", times: 1)
        assertArticleLine(logged[3], request: "GET /slow HTTP/1.1", status: 504, upstream: slow.address, times: 1)
        XCTAssertTrue(logged[3].hasSuffix("request_time: 0.2") || logged[3].contains("request_time: 0.2")
                      || logged[3].contains("request_time: 0.3"), "the 504 took proxy_read_timeout: \(logged[3])")
    }

    func testJSONEscapingOffIfAndStatusLists() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                log_format json escape=json '{"ua":"$http_user_agent","status":$status,"up":"$upstream_status"}';
                log_format plain '$request_uri $http_x_note $arg_a $cookie_session $remote_user $request_length';
                access_log TMP/access.log json;
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://\(backend.address); }
                    location /quiet { access_log off; return 204; }
                    location /picked { access_log TMP/picked.log plain if=$http_x_log; return 200; }
                }
            }
            """)
        XCTAssertEqual(try harness!.get("/", headers: [("User-Agent", "say \"hi\"\\\tx")]).status, 200)
        XCTAssertEqual(try harness!.get("/quiet").status, 204)
        XCTAssertEqual(try harness!.get("/picked?a=1", headers: [
            ("X-Log", "1"), ("X-Note", "\"q\""), ("Cookie", "theme=dark; session=s3"),
            ("Authorization", "Basic YWxpY2U6c2VjcmV0"),
        ]).status, 200)
        XCTAssertEqual(try harness!.get("/picked?b=2", headers: [("X-Log", "0")]).status, 200)
        XCTAssertEqual(try harness!.get("/picked?c=3").status, 200)
        let json = waitForLines(1)
        XCTAssertEqual(json, [#"{"ua":"say \"hi\"\\\tx","status":200,"up":"200"}"#])
        let picked = waitForLines(1, harness!.directory + "/picked.log")
        XCTAssertEqual(picked.count, 1, "if= dropped \"0\" and absent")
        let fields = picked.first?.split(separator: " ").map(String.init) ?? []
        XCTAssertEqual(Array(fields.prefix(5)), ["/picked?a=1", #"\x22q\x22"#, "1", "s3", "alice"], "default escaping")
        let length = Int(fields.last ?? "") ?? 0
        XCTAssertGreaterThan(length, 100, "the head's bytes: \(picked)")
        XCTAssertLessThan(length, 400)
    }

    /// A field whose name holds `_` is dropped by default, as nginx drops it (`underscores_in_headers off`,
    /// `ignore_invalid_headers on`): `$http_x_under` logs `-` although the head's bytes carry `X_Under`; with
    /// `underscores_in_headers on` it is a field like any other. `$http_x_dash` finds `X-Dash` either way.
    func testUnderscoreNamesInHTTPVariablesFollowTheParser() throws {
        for (setting, expected) in [("", "-|d"), ("underscores_in_headers on;", "u|d")] {
            harness = try ProxyHarness("""
                http {
                    log_format under '$http_x_under|$http_x_dash';
                    access_log TMP/access.log under;
                    \(setting)
                    server { listen 127.0.0.1:PROXY_PORT; location / { return 204; } }
                }
                """)
            XCTAssertEqual(try harness!.get("/", headers: [("X_Under", "u"), ("X-Dash", "d")]).status, 204)
            XCTAssertEqual(waitForLines(1), [expected], setting.isEmpty ? "default" : setting)
            harness?.stop()
            harness = nil
        }
    }

    /// `$bytes_sent` (every byte the client received), `$sent_http_*` (the head as sent), and the per-attempt
    /// `$upstream_bytes_*` and `$upstream_response_length` lists, with a retried request's two entries.
    func testByteCountsAndSentHeaders() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        let deadPort = try freeLoopbackPort()
        harness = try ProxyHarness("""
            http {
                log_format bytes '$bytes_sent $body_bytes_sent "$sent_http_content_length" "$sent_http_connection" '
                                 '$sent_http_x_nothing|$upstream_response_length|$upstream_bytes_received|'
                                 '$upstream_bytes_sent|$upstream_status';
                access_log TMP/access.log bytes;
                upstream pool { server 127.0.0.1:\(deadPort); server \(backend.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://pool; }
                    location /local { return 200 "four"; }
                }
            }
            """, workers: 1)
        var raw: [Int] = []
        for path in ["/bytes/100", "/bytes/300", "/local"] {
            let client = try harness!.client()
            try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw.append(client.readUntilClose().bytes.count)
        }
        let logged = waitForLines(3)
        XCTAssertEqual(logged.count, 3, logged.joined(separator: "\n"))
        guard logged.count == 3 else { return }
        func parts(_ line: String) -> [String] { line.components(separatedBy: "|") }
        // The first request met the dead server first: two attempts, the first with nothing sent or received.
        let first = parts(logged[0])
        XCTAssertEqual(first[0], "\(raw[0]) 100 \"100\" \"close\" -", "bytes_sent is every byte the client read")
        XCTAssertEqual(first[1], "0, 100")
        let received = first[2].components(separatedBy: ", ")
        XCTAssertEqual(received.first, "0")
        XCTAssertGreaterThan(Int(received.last ?? "") ?? 0, 100, "head and body")
        XCTAssertLessThan(Int(received.last ?? "") ?? 0, 400)
        let sent = first[3].components(separatedBy: ", ")
        XCTAssertEqual(sent.first, "0", "nothing went to the refused server")
        XCTAssertGreaterThan(Int(sent.last ?? "") ?? 0, 30, "the request head went to the second")
        XCTAssertEqual(first[4], "502, 200")
        let second = parts(logged[1])
        XCTAssertEqual(second[0], "\(raw[1]) 300 \"300\" \"close\" -")
        XCTAssertEqual(second[1], "300")
        let local = parts(logged[2])
        XCTAssertEqual(local[0], "\(raw[2]) 4 \"4\" \"close\" -", "maitred's own answers count too")
        XCTAssertEqual(Array(local.dropFirst()), ["-", "-", "-", "-"], "no upstream: nginx's dash")
    }

    /// `$request_id`: 32 hex digits, the same in the header sent upstream and in the log line, new per request.
    func testRequestIDIsOnePerRequestAndShared() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                log_format ids '$request_id $status';
                access_log TMP/access.log ids;
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://\(backend.address); proxy_set_header X-Request-ID $request_id; }
                }
            }
            """)
        let client = try harness!.client()
        var sent: [String] = []
        for _ in 0..<2 {
            let response = try client.request("GET", "/headers")
            XCTAssertEqual(response.status, 200)
            let line = response.text.split(separator: "\n").first { $0.lowercased().hasPrefix("x-request-id: ") }
            sent.append(line.map { String($0.dropFirst("x-request-id: ".count)) } ?? "")
        }
        let logged = waitForLines(2).map { String($0.split(separator: " ").first ?? "") }
        XCTAssertEqual(logged, sent, "the log shows the id the upstream got")
        XCTAssertNotEqual(sent[0], sent[1], "a new id per request on the same connection")
        for id in sent {
            XCTAssertNotNil(id.range(of: "^[0-9a-f]{32}$", options: .regularExpression), id)
        }
    }

    /// `$request` is the request line as sent, spaces and version digits included (nginx 1.22.1 logs these three
    /// lines so); the error log's `request: "…"` is the same line.
    func testRequestIsTheLineAsSent() throws {
        harness = try ProxyHarness("""
            http {
                log_format line '"$request" $status';
                access_log TMP/access.log line;
                server { listen 127.0.0.1:PROXY_PORT; location / { return 200 "ok"; } }
            }
            """)
        for head in ["GET  /x   HTTP/1.1  \r\nHost: a\r\n\r\n", "GET /y HTTP/1.2\r\nHost: a\r\n\r\n",
                     "GET /z HTTP/1.01\r\nHost: a\r\n\r\n"] {
            let client = try harness!.client()
            try client.send(head)
            XCTAssertEqual(try client.readResponse().status, 200)
        }
        XCTAssertEqual(waitForLines(3), [#""GET  /x   HTTP/1.1  " 200"#, #""GET /y HTTP/1.2" 200"#, #""GET /z HTTP/1.01" 200"#])
    }

    func testBufferedLinesWaitForFlush() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                access_log TMP/access.log combined buffer=64k flush=700ms;
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://\(backend.address); } }
            }
            """)
        for _ in 0..<3 { XCTAssertEqual(try harness!.get("/").status, 200) }
        usleep(200_000)
        XCTAssertEqual(lines().count, 0, "held in the loop's buffer")
        XCTAssertEqual(waitForLines(3).count, 3, "written once flush= ran out")
    }

    func testReopenStartsANewFile() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                access_log TMP/access.log;
                server { listen 127.0.0.1:PROXY_PORT; location / { proxy_pass http://\(backend.address); } }
            }
            """)
        XCTAssertEqual(try harness!.get("/before").status, 200)
        XCTAssertEqual(waitForLines(1).count, 1)
        let rotated = harness!.directory + "/access.log.1"
        XCTAssertEqual(rename(logPath, rotated), 0)
        harness!.server.reopenLogs()
        XCTAssertTrue(eventually(5) { FileManager.default.fileExists(atPath: self.logPath) }, "reopened")
        XCTAssertEqual(try harness!.get("/after").status, 200)
        let fresh = waitForLines(1)
        XCTAssertEqual(fresh.count, 1)
        XCTAssertTrue(fresh.first?.contains("GET /after ") ?? false, fresh.joined())
        XCTAssertTrue(lines(rotated).first?.contains("GET /before ") ?? false)
    }
}
