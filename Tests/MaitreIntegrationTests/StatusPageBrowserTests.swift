import Foundation
import XCTest

/// The `status` page in headless Chromium: it renders every upstream and peer without a JavaScript error, and a
/// peer drained through the API shows as draining by the page's next refresh (it polls every 2 s). A screenshot
/// is kept as a test artifact (the path is printed).
final class StatusPageBrowserTests: ProxyTestCase {
    func testStatusPageRendersAndFollowsADrain() throws {
        let a = try TestBackend(name: "a", group: group)
        let b = try TestBackend(name: "b", group: group)
        let c = try TestBackend(name: "c", group: group)
        backends = [a, b, c]
        harness = try ProxyHarness("""
            http {
                log_format uri '$request_uri';
                upstream app {
                    server \(a.address);
                    server \(b.address) weight=2;
                    server 127.0.0.1:1 backup;
                    check interval=200 rise=1 fall=1 timeout=500 type=tcp;
                }
                upstream static_files { server \(c.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    server_name status.test;
                    location / { proxy_pass http://app; }
                    location /static/ { proxy_pass http://static_files; }
                    location /status { status; access_log TMP/status.log uri; }
                    location /api { api write=on; }
                }
            }
            """, workers: 2)
        XCTAssertTrue(pollUntil(timeout: 5) { (try? self.harness!.get("/").status) == 200 }, "the check let a peer in")
        for _ in 0..<30 { _ = try harness!.get("/") }
        for _ in 0..<5 { _ = try harness!.get("/static/x") }
        let page = try harness!.get("/status")
        XCTAssertEqual(page.status, 200)
        XCTAssertEqual(page.header("Content-Type"), "text/html; charset=utf-8")
        XCTAssertFalse(page.text.contains("http://") || page.text.contains("https://"), "no external assets")

        let browser = try HeadlessChromium(url: "http://127.0.0.1:\(harness!.port)/status")
        defer { browser.stop() }
        func state(_ server: String) throws -> String? {
            try browser.evaluate("document.querySelector('tr[data-server=\"\(server)\"]')?.dataset.state") as? String
        }
        XCTAssertTrue(try browser.waitFor(
            "document.querySelectorAll('tr[data-server]').length === 4", timeout: 15), "every peer rendered")
        XCTAssertEqual(try browser.evaluate(
            "[...document.querySelectorAll('[data-upstream-card]')].map(e => e.dataset.upstreamCard).join(',')") as? String,
                       "app,static_files")
        // Each peer is down until its own first check passes ("checking"); on a loaded machine one peer's first
        // check can land a refresh later than the other's, so wait for the page to show both up.
        for server in [a.address, b.address] {
            let shownUp = try browser.waitFor(
                "document.querySelector('tr[data-server=\"\(server)\"]')?.dataset.state === 'up'", timeout: 10)
            XCTAssertTrue(shownUp, "\(server) shown up, not \(String(describing: try? state(server)))")
        }
        XCTAssertTrue(try browser.waitFor(
            "document.querySelector('tr[data-server=\"127.0.0.1:1\"]')?.dataset.state === 'unhealthy'", timeout: 10))
        let rowText = try browser.evaluate(
            "document.querySelector('tr[data-server=\"127.0.0.1:1\"]').textContent") as? String ?? ""
        XCTAssertTrue(rowText.contains("checks failed: connection refused") || rowText.contains("1 check failed"), rowText)

        // Drain b through the API; the page's next refresh shows it.
        let fetchesBefore = statusFetches()
        let drained = try harness!.client().request(
            "PATCH", "/api/9/http/upstreams/app/servers/1", body: #"{"drain":true}"#)
        XCTAssertEqual(drained.status, 200, drained.text)
        XCTAssertTrue(try browser.waitFor(
            "document.querySelector('tr[data-server=\"\(b.address)\"]')?.dataset.state === 'draining'", timeout: 15))
        let refreshes = statusFetches() - fetchesBefore
        XCTAssertLessThanOrEqual(refreshes, 2, "draining shown by the first refresh after the PATCH (one may have been in flight)")
        let stateCell = try browser.evaluate(
            "document.querySelector('tr[data-server=\"\(b.address)\"]').textContent.includes('draining')") as? Bool
        XCTAssertEqual(stateCell, true, "the state cell says it in words")
        XCTAssertEqual(browser.pageErrors, [], "no JavaScript errors")

        let artifacts = NSTemporaryDirectory() + "maitre-artifacts"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let png = try browser.screenshot()
        XCTAssertEqual(Array(png.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG")
        try png.write(to: URL(fileURLWithPath: artifacts + "/status-page.png"))
        print("status page screenshot: \(artifacts)/status-page.png (\(png.count) bytes)")
    }

    /// The error collector above can fail: a page that throws is caught.
    func testBrowserReportsPageErrors() throws {
        let browser = try HeadlessChromium(url: "data:text/html,<script>console.error('boom');undefinedFunction()</script>")
        defer { browser.stop() }
        XCTAssertEqual(try browser.evaluate("1 + 1") as? Int, 2)
        // The errors' events may come after the evaluation's answer: each evaluation reads what arrived.
        _ = eventually(5) { (try? browser.evaluate("0")) != nil && browser.pageErrors.count >= 2 }
        XCTAssertEqual(browser.pageErrors.count, 2, "\(browser.pageErrors)")
        XCTAssertTrue(browser.pageErrors.contains { $0.contains("undefinedFunction is not defined") }, "\(browser.pageErrors)")
    }

    /// The page's JSON fetches so far, from the status location's access log.
    private func statusFetches() -> Int {
        let text = readFile(harness!.directory + "/status.log") ?? ""
        return text.split(separator: "\n").filter { $0.contains("format=json") }.count
    }
}
