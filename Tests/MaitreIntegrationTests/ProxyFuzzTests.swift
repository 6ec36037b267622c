import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import XCTest

/// Odd bytes from either side never kill or wedge the proxy: every fuzz case (a pure function of a fixed seed
/// and its index, see BackendFuzzCases and ClientFuzzCases) ends with a well-formed answer or a clean close,
/// within the configured timeouts, and the proxy serves normally afterwards.
final class ProxyFuzzTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var harness: ProxyHarness?
    var scripted: ScriptedBackend?
    var backends: [TestBackend] = []

    static let backendCaseCount = 1_650
    static let clientCaseCount = 1_650

    override func setUp() {
        captureLiveBaseline()
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    override func tearDown() {
        harness?.stop()
        harness = nil
        scripted?.stop()
        scripted = nil
        for b in backends { b.stop() }
        backends = []
        try? group.syncShutdownGracefully()
    }

    /// What one case produced, for the summary and the failure report.
    struct Outcome {
        var index: Int
        var statuses: [Int] = []
        var failure: String?
        var seconds: Double = 0
        var reset = false
    }

    // MARK: - Upstream direction

    /// The script behind the scripted upstream: fuzz cases by index, plus the targeted cases below.
    static let script: ScriptedBackend.Script = { path in
        let parts = path.split(separator: "/")
        guard parts.count == 2, let n = Int(parts[1]) else {
            if path == "/x330" {
                let head = "HTTP/1.1 200 OK\r\n" + String(repeating: "X:1\r\n", count: 330) + "Content-Length: 2\r\n\r\nok"
                return [.write(Array(head.utf8)), .close]
            }
            return [.write(Array("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8)), .close]
        }
        switch parts[0] {
        case "case", "big":
            return BackendFuzzCases.make(n).steps
        case "refused":
            let line = BackendFuzzCases.refusedStatusLines[n]
            return [.write(Array((line + "\r\nX-Raw: marker\r\nContent-Length: 10\r\n\r\nRAW-MARKER").utf8)), .close]
        case "accepted":
            let line = BackendFuzzCases.acceptedStatusLines[n].line
            return [.write(Array((line + "\r\nContent-Length: 7\r\n\r\nproxied").utf8)), .close]
        default:
            return [.close]
        }
    }

    func testOddBackendResponsesNeverKillTheProxy() throws {
        let scripted = try ScriptedBackend(group: group, script: Self.script)
        self.scripted = scripted
        let normal = try TestBackend(name: "normal", group: group)
        backends = [normal]
        let harness = try ProxyHarness("""
            http {
                upstream scripted { server \(scripted.address); }
                upstream normal { server \(normal.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    keepalive_timeout 0;
                    proxy_read_timeout 2s;
                    location /big/ { proxy_pass http://scripted; proxy_buffer_size 8k; }
                    location / { proxy_pass http://scripted; }
                    location /normal/ { proxy_pass http://normal; }
                }
            }
            """)
        self.harness = harness
        let port = harness.port

        // Regression: this head used to trap the process (the rewritten head outgrew its reservation).
        let x330 = exchange(port: port, "/x330")
        XCTAssertEqual(x330.end, .eof)
        XCTAssertEqual(ReceivedResponse(x330.bytes).finalStatus, 200, escaped(x330.bytes))
        let text = String(decoding: x330.bytes, as: UTF8.self)
        XCTAssertEqual(text.components(separatedBy: "\r\n").filter { $0 == "X: 1" }.count, 330)
        XCTAssertTrue(text.hasSuffix("\r\n\r\nok"), escaped(x330.bytes))

        // Status lines the parser refuses: exactly 502, and nothing of the upstream's bytes.
        for (i, line) in BackendFuzzCases.refusedStatusLines.enumerated() {
            let r = exchange(port: port, "/refused/\(i)")
            let received = ReceivedResponse(r.bytes)
            XCTAssertEqual(received.statuses, [502], "\(line.debugDescription): \(escaped(r.bytes))")
            XCTAssertNil(received.problem, line.debugDescription)
            let body = String(decoding: r.bytes, as: UTF8.self)
            XCTAssertFalse(body.contains("RAW-MARKER") || body.contains("X-Raw"), "\(line.debugDescription) leaked")
            if !line.isEmpty { XCTAssertFalse(body.contains(line), "\(line.debugDescription) leaked") }
        }
        // Odd-looking status lines RFC 9112 allows: proxied with their status and body.
        for (i, accepted) in BackendFuzzCases.acceptedStatusLines.enumerated() {
            let r = exchange(port: port, "/accepted/\(i)")
            XCTAssertEqual(ReceivedResponse(r.bytes).statuses, [accepted.status], "\(accepted.line): \(escaped(r.bytes))")
            XCTAssertTrue(String(decoding: r.bytes, as: UTF8.self).hasSuffix("\r\n\r\nproxied"), accepted.line)
        }

        let outcomes = NIOLockedValueBox([Outcome]())
        let started = Date()
        let run = runOnThreads(workers: 4, count: Self.backendCaseCount, budget: 100) { index in
            let c = BackendFuzzCases.make(index)
            let begin = Date()
            let r = exchange(port: port, (c.largeBuffer ? "/big/" : "/case/") + String(index))
            var outcome = Outcome(index: index, seconds: Date().timeIntervalSince(begin), reset: r.end == .reset)
            let received = ReceivedResponse(r.bytes)
            outcome.statuses = received.statuses
            if let problem = r.problem {
                outcome.failure = problem
            } else if r.end == .timeout {
                outcome.failure = "no close within 5 s (proxy wedged), received \(escaped(r.bytes, limit: 200))"
            } else if let problem = received.problem {
                outcome.failure = "malformed answer (\(problem)): \(escaped(r.bytes, limit: 300))"
            } else if let expected = c.expectedStatus, received.finalStatus != expected {
                outcome.failure = "expected \(expected), got \(received.finalStatus.map(String.init) ?? "a close"): "
                    + escaped(r.bytes, limit: 300)
            } else if received.finalStatus == 504 {
                outcome.failure = "504: the proxy missed the upstream's close"
            }
            if outcome.failure != nil {
                outcome.failure! += "\n  case \(index) (\(c.kind), \(c.largeBuffer ? "8k" : "4k") buffer) upstream bytes: "
                    + escaped(c.bytes, limit: 300)
            }
            outcomes.withLockedValue { $0.append(outcome) }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(run.finishedInTime, "a client thread was still blocked after the time budget")
        XCTAssertEqual(run.ran, Self.backendCaseCount, "time budget ran out after \(run.ran) cases")
        report(outcomes.withLockedValue { $0 }, elapsed: elapsed, direction: "upstream")

        // The proxy still serves, through a normal upstream in the same harness.
        let normalAnswer = try harness.client(timeoutSeconds: 5).request("GET", "/normal/after", headers: [("Connection", "close")])
        XCTAssertEqual(normalAnswer.status, 200)
        XCTAssertEqual(normalAnswer.text, "normal\n")
        assertNoLiveClientObjects()
    }

    // MARK: - Client direction

    func testOddClientRequestsNeverKillTheProxy() throws {
        let normal = try TestBackend(name: "normal", group: group)
        backends = [normal]
        let harness = try ProxyHarness("""
            http {
                upstream normal { server \(normal.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    client_header_timeout 2s;
                    client_body_timeout 2s;
                    keepalive_timeout 2s;
                    location = /ok { return 200 "ok"; }
                    location / { proxy_pass http://normal; }
                }
            }
            """)
        self.harness = harness
        let port = harness.port

        let outcomes = NIOLockedValueBox([Outcome]())
        let started = Date()
        // Cases left incomplete wait for a 2 s timeout: many workers so those waits overlap.
        let run = runOnThreads(workers: 16, count: Self.clientCaseCount, budget: 100) { index in
            let c = ClientFuzzCases.make(index)
            let begin = Date()
            var outcome = Outcome(index: index)
            let r = exchange(port: port, pieces: c.pieces, pauses: c.pausesMicroseconds, halfClose: c.halfClose)
            outcome.seconds = Date().timeIntervalSince(begin)
            outcome.reset = r.end == .reset
            let received = ReceivedResponse(r.bytes, followingLengths: c.followsPipelined)
            outcome.statuses = received.statuses
            if let problem = r.problem {
                outcome.failure = problem
            } else if r.end == .timeout {
                outcome.failure = "no close within 5 s (timeouts are 2 s), received \(escaped(r.bytes, limit: 200))"
            } else if let problem = received.problem {
                outcome.failure = "malformed answer (\(problem)): \(escaped(r.bytes, limit: 300))"
            } else if let expected = c.expectedClass, received.finalStatus.map({ $0 / 100 }) != expected {
                outcome.failure = "expected \(expected)xx, got \(received.finalStatus.map(String.init) ?? "a close"): "
                    + escaped(r.bytes, limit: 300)
            }
            if outcome.failure != nil {
                outcome.failure! += "\n  case \(index) (\(c.kind)\(c.halfClose ? ", half-closed" : "")) request bytes: "
                    + escaped(c.bytes, limit: 300)
            }
            outcomes.withLockedValue { $0.append(outcome) }
        }
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue(run.finishedInTime, "a client thread was still blocked after the time budget")
        XCTAssertEqual(run.ran, Self.clientCaseCount, "time budget ran out after \(run.ran) cases")
        report(outcomes.withLockedValue { $0 }, elapsed: elapsed, direction: "client")

        let after = try harness.client(timeoutSeconds: 5).request("GET", "/p/after", headers: [("Connection", "close")])
        XCTAssertEqual(after.status, 200)
        XCTAssertEqual(after.text, "normal\n")
        XCTAssertEqual(try harness.client(timeoutSeconds: 5).request("GET", "/ok").text, "ok")
        assertNoLiveClientObjects()
    }

    /// nginx answers CONNECT (unless `allow_connect`) and TRACE with 405 and never passes them upstream
    /// (ngx_http_process_request_header, since 1.21.1). Client fuzz case 334 found maitred forwarding CONNECT:
    /// the upstream's framing-less 200 (a tunnel) was read as a close-delimited body, the client got a chunked
    /// head and then nothing until proxy_read_timeout.
    func testConnectAndTraceAreNotForwarded() throws {
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        let harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location / { proxy_pass http://pool; proxy_read_timeout 3s; }
                }
            }
            """)
        self.harness = harness
        for method in ["CONNECT", "TRACE"] {
            let r = exchange(port: harness.port, pieces: [Array("\(method) /p/m HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)],
                             pauses: [0], halfClose: false)
            XCTAssertEqual(r.end, .eof, "\(method): \(escaped(r.bytes))")
            XCTAssertEqual(ReceivedResponse(r.bytes).finalStatus, 405, "\(method): \(escaped(r.bytes))")
        }
        XCTAssertEqual(backend.requests, 0, "forwarded: \(backend.heads.map { "\($0.method) \($0.uri)" })")
    }

    // MARK: - Helpers

    /// Asserts on the outcomes: no failure, and both outcomes the fuzzing must reach were reached often.
    private func report(_ outcomes: [Outcome], elapsed: Double, direction: String,
                        file: StaticString = #filePath, line: UInt = #line) {
        let finals = outcomes.compactMap { $0.statuses.last }
        let count2xx = finals.filter { (200..<300).contains($0) }.count
        let count4xx = finals.filter { (400..<500).contains($0) }.count
        let count502 = finals.filter { $0 == 502 }.count
        let closes = outcomes.filter { $0.statuses.isEmpty && $0.failure == nil }.count
        let resets = outcomes.filter(\.reset).count
        let waited = outcomes.filter { $0.seconds >= 1.9 }.count
        let slowest = outcomes.max { $0.seconds < $1.seconds }
        let failures = outcomes.filter { $0.failure != nil }.sorted { $0.index < $1.index }
        print("""
            \(direction) fuzz: \(outcomes.count) cases in \(String(format: "%.1f", elapsed)) s; 2xx \(count2xx), \
            4xx \(count4xx), 502 \(count502), clean closes \(closes), resets \(resets), cases of 1.9 s or more \(waited), \
            failures \(failures.count); \
            slowest case \(slowest.map { "\($0.index) (\(String(format: "%.2f", $0.seconds)) s)" } ?? "-")
            """)
        for failure in failures.prefix(15) {
            XCTFail("\(direction) case \(failure.index): \(failure.failure!)", file: file, line: line)
        }
        XCTAssertEqual(failures.count, 0, "\(direction) fuzz cases failed: \(failures.map(\.index).prefix(100))",
                       file: file, line: line)
        XCTAssertGreaterThan(count2xx, 100, "coverage: 2xx answers", file: file, line: line)
        if direction == "upstream" {
            XCTAssertGreaterThan(count502, 100, "coverage: 502 answers", file: file, line: line)
        } else {
            XCTAssertGreaterThan(count4xx, 100, "coverage: 4xx answers", file: file, line: line)
        }
    }

    /// Every client connection is closed: in debug builds no handler or exchange may outlive it.
    private func assertNoLiveClientObjects(file: StaticString = #filePath, line: UInt = #line) {
        guard liveCounts() != nil else { return }
        let released = pollUntil(timeout: 10) {
            let counts = liveCounts()!
            return counts.clientHandlers == 0 && counts.exchanges == 0
        }
        XCTAssertTrue(released, "live objects after every client closed: \(liveCounts()!)", file: file, line: line)
    }
}

/// One request on a fresh connection (5 s timeout), read raw until the proxy closes it.
func exchange(port: Int, _ path: String) -> (bytes: [UInt8], end: TestHTTPClient.RawEnd, problem: String?) {
    exchange(port: port, pieces: [Array("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n".utf8)], pauses: [0], halfClose: false)
}

/// Sends `pieces` on a fresh connection (pausing after each), optionally half-closes, and reads raw until the
/// proxy closes. `problem` is set when connecting or sending failed for another reason than the proxy having
/// answered and closed already (an early answer to a bad head is allowed to cut the rest of the request off).
func exchange(port: Int, pieces: [[UInt8]], pauses: [Int], halfClose: Bool)
    -> (bytes: [UInt8], end: TestHTTPClient.RawEnd, problem: String?)
{
    let client: TestHTTPClient
    do {
        client = try TestHTTPClient(port: port, timeoutSeconds: 5, scratchSize: 64 * 1024)
    } catch {
        return ([], .eof, "connect failed: \(error)")
    }
    for (piece, pause) in zip(pieces, pauses) {
        if (try? client.send(piece)) == nil { break }  // the proxy answered and closed: read what it said
        if pause > 0 { usleep(UInt32(pause)) }
    }
    if halfClose { client.shutdownWrite() }
    let r = client.readUntilClose()
    return (r.bytes, r.end, nil)
}
