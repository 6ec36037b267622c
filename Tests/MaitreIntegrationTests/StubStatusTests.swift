import Foundation
import XCTest

/// nginx's `stub_status` on real sockets: the page in nginx's exact text, parsed the way nginx-prometheus-exporter
/// parses it, with counts that match the connections and requests the test made.
final class StubStatusTests: ProxyTestCase {
    /// nginx-prometheus-exporter's reading of the page (client/nginx.go: line by line, fields by spaces).
    private struct Parsed: Equatable {
        var active = 0, accepted = 0, handled = 0, requests = 0, reading = 0, writing = 0, waiting = 0
    }

    private func parse(_ text: String) -> Parsed? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 5, lines[4].isEmpty, lines[1] == "server accepts handled requests",
            lines[0].hasPrefix("Active connections: "), lines[0].hasSuffix(" "), lines[2].hasPrefix(" ")
        else { return nil }
        func numbers(_ line: Substring) -> [Int] { line.split(separator: " ").compactMap { Int($0) } }
        let active = numbers(lines[0])
        let totals = numbers(lines[2])
        let words = lines[3].split(separator: " ")
        guard active.count == 1, totals.count == 3, words.count == 6, words[0] == "Reading:", words[2] == "Writing:",
            words[4] == "Waiting:", let reading = Int(words[1]), let writing = Int(words[3]), let waiting = Int(words[5])
        else { return nil }
        return Parsed(active: active[0], accepted: totals[0], handled: totals[1], requests: totals[2],
                      reading: reading, writing: writing, waiting: waiting)
    }

    func testThePageCountsConnectionsAndRequestsAsNginxDoes() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        harness = try ProxyHarness("""
            http {
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://\(backend.address); }
                    location = /basic_status { stub_status; }
                }
            }
            """, workers: 2)
        for _ in 0..<5 { XCTAssertEqual(try harness!.get("/", headers: [("Connection", "close")]).status, 200) }
        let idle = try harness!.client()
        XCTAssertEqual(try idle.request("GET", "/").status, 200)  // stays open, waiting
        let partial = try harness!.client()
        try partial.send("GET / HTTP/1.1\r\nHost: x\r\n")  // a head that is not complete: reading
        var page: Parsed?
        var text = ""
        XCTAssertTrue(eventually(5) {
            let response = try? self.harness!.get("/basic_status")
            text = response?.text ?? ""
            page = self.parse(text)
            return page?.reading == 1
        }, "the partial head is reading: \(text)")
        let status = try XCTUnwrap(page, text)
        XCTAssertEqual(status.active, 3, "idle + partial + the status request's own: \(text)")
        XCTAssertEqual(status.writing, 1, "the status request itself, as nginx counts it")
        XCTAssertEqual(status.waiting, 1, "the idle keep-alive connection")
        XCTAssertGreaterThanOrEqual(status.accepted, 8)
        XCTAssertEqual(status.accepted, status.handled, "no connection refused")
        XCTAssertGreaterThanOrEqual(status.requests, 7, "5 + 1 proxied and the status request itself")
        XCTAssertEqual(status.active, status.reading + status.writing + status.waiting)
        let head = try harness!.get("/basic_status")
        XCTAssertEqual(head.header("Content-Type"), "text/plain")
        XCTAssertEqual(try harness!.client().request("POST", "/basic_status", body: "x").status, 405)
    }
}
