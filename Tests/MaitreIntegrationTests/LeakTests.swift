import Foundation
import NIOConcurrencyHelpers
import NIOPosix
import XCTest

/// Connections leave nothing behind: after many of them, the debug build's live-object counts return to zero
/// and resident memory stays where a warm-up left it.
final class LeakTests: XCTestCase {
    var group: MultiThreadedEventLoopGroup!
    var harness: ProxyHarness?
    var backends: [TestBackend] = []
    var scripted: ScriptedBackend?

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

    /// Failures seen by client threads (the first few kept) and how many requests got the expected answer.
    private final class Tally: Sendable {
        private let state = NIOLockedValueBox((ok: 0, failures: 0, examples: [String]()))
        var ok: Int { state.withLockedValue { $0.ok } }
        var failures: Int { state.withLockedValue { $0.failures } }
        var examples: [String] { state.withLockedValue { $0.examples } }

        func record(_ failure: String?) {
            state.withLockedValue {
                guard let failure else {
                    $0.ok += 1
                    return
                }
                $0.failures += 1
                if $0.examples.count < 10 { $0.examples.append(failure) }
            }
        }
    }

    /// One request on its own connection with `Connection: close`: connect, send, read until the proxy closes.
    /// Returns what was wrong, or nil.
    private static func closeDelimitedRequest(port: Int, path: String, body: String) -> String? {
        do {
            let client = try TestHTTPClient(port: port, timeoutSeconds: 5, scratchSize: 4096)
            try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let r = client.readUntilClose(limit: 64 * 1024)
            let text = String(decoding: r.bytes, as: UTF8.self)
            guard r.end == .eof else { return "\(path): ended by \(r.end) after \(text.debugDescription)" }
            guard text.hasPrefix("HTTP/1.1 200 "), text.hasSuffix("\r\n\r\n" + body) else {
                return "\(path): unexpected answer \(text.debugDescription)"
            }
            return nil
        } catch {
            return "\(path): \(error)"
        }
    }

    /// 100,000 short connections (one `return` or proxied request each, alternately) on 8 client threads, after
    /// a 5,000-connection warm-up: no handler or exchange outlives its connection and RSS does not grow.
    func testHundredThousandClientConnectionsLeaveNothingBehind() throws {
        guard liveCounts() != nil else { throw XCTSkip("LiveObjects counts only in debug builds") }
        // A backend that keeps nothing per request (TestBackend records every head, which would show as growth).
        let backend = try ScriptedBackend(group: group) { _ in [.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nb\n".utf8))] }
        scripted = backend
        let harness = try ProxyHarness("""
            http {
                upstream pool { server \(backend.address); }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    location = /local { return 200 "ok"; }
                    location / { proxy_pass http://pool; }
                }
            }
            """)
        self.harness = harness
        let port = harness.port
        let overall = Date().addingTimeInterval(120)

        /// Runs `count` connections; fails the test (instead of hanging) past the overall budget.
        func phase(_ name: String, count: Int) -> Bool {
            let tally = Tally()
            let started = Date()
            let run = runOnThreads(workers: 8, count: count, budget: max(1, overall.timeIntervalSinceNow)) { i in
                tally.record(i % 2 == 0
                    ? Self.closeDelimitedRequest(port: port, path: "/local", body: "ok")
                    : Self.closeDelimitedRequest(port: port, path: "/p/\(i)", body: "b\n"))
            }
            print("leak test \(name): \(run.ran) connections in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
            XCTAssertTrue(run.finishedInTime, "\(name): client threads still blocked after the budget")
            XCTAssertEqual(run.ran, count, "\(name): 120 s budget ran out after \(run.ran) connections")
            XCTAssertEqual(tally.failures, 0, "\(name): failed connections, e.g. \(tally.examples)")
            XCTAssertEqual(tally.ok, count, name)
            let released = pollUntil(timeout: 10) {
                let counts = liveCounts()!
                return counts.clientHandlers == 0 && counts.exchanges == 0
            }
            XCTAssertTrue(released, "\(name): live objects after every connection closed: \(liveCounts()!)")
            return run.ran == count && tally.failures == 0 && released
        }

        guard phase("warm-up", count: 5_000) else { return }
        let warm = try residentMemory()
        guard phase("first half", count: 50_000) else { return }
        let middle = try residentMemory()
        guard phase("second half", count: 50_000) else { return }
        let end = try residentMemory()
        let mib = { (bytes: Int) in String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        print("leak test RSS: after warm-up \(mib(warm)), after 50,000 \(mib(middle)), after 100,000 \(mib(end))")
        let bound = 8 * 1_048_576
        XCTAssertLessThan(middle - warm, bound, "RSS grew by \(mib(middle - warm)) over 50,000 connections")
        XCTAssertLessThan(end - warm, bound, "RSS grew by \(mib(end - warm)) over 100,000 connections")
        // The pool keeps at most `keepalive` (32) idle upstream connections; nothing else holds any.
        XCTAssertLessThanOrEqual(liveCounts()!.upstreamConnections, 32)
    }

    /// With `keepalive 0` every proxied request opens and closes its own upstream connection: after 10,000 of
    /// them over four keep-alive client connections, no upstream connection object or socket is left.
    func testTenThousandUpstreamConnectionsAreReleased() throws {
        guard liveCounts() != nil else { throw XCTSkip("LiveObjects counts only in debug builds") }
        let backend = try TestBackend(name: "b", group: group)
        backends = [backend]
        let harness = try ProxyHarness("""
            http {
                upstream once { server \(backend.address); keepalive 0; }
                server {
                    listen 127.0.0.1:PROXY_PORT;
                    keepalive_requests 100000;
                    location / { proxy_pass http://once; }
                }
            }
            """)
        self.harness = harness
        let clients = UncheckedSendable(value: try (0..<4).map { _ in try harness.client(timeoutSeconds: 5) })
        let perClient = 2_500
        let tally = Tally()
        let started = Date()
        let run = runOnThreads(workers: 4, count: 4, budget: 60) { c in
            let client = clients.value[c]  // used by this thread only
            for i in 0..<perClient {
                do {
                    let r = try client.request("GET", "/p/\(c)/\(i)")
                    tally.record(r.status == 200 && r.text == "b\n" ? nil : "got \(r.status) \(r.text.debugDescription)")
                } catch {
                    tally.record("client \(c) request \(i): \(error)")
                    return
                }
            }
        }
        print("upstream leak test: \(tally.ok) requests in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertTrue(run.finishedInTime, "client threads still blocked after the budget")
        XCTAssertEqual(tally.failures, 0, "failed requests, e.g. \(tally.examples)")
        XCTAssertEqual(tally.ok, 4 * perClient)
        XCTAssertEqual(backend.requests, 4 * perClient)
        XCTAssertEqual(backend.acceptedConnections, 4 * perClient, "keepalive 0: one upstream connection per request")

        let released = pollUntil(timeout: 10) { liveCounts()!.upstreamConnections == 0 && backend.openConnections == 0 }
        XCTAssertTrue(released, "after 10,000 requests: \(liveCounts()!), backend open \(backend.openConnections)")
        // The client connections are still open and idle: their handlers live, no exchange does.
        XCTAssertEqual(liveCounts()!.exchanges, 0)
        XCTAssertEqual(liveCounts()!.clientHandlers, 4)
        for client in clients.value { client.shutdownWrite() }
        let closed = pollUntil(timeout: 10) { liveCounts()!.clientHandlers == 0 }
        XCTAssertTrue(closed, "after the clients closed: \(liveCounts()!)")
    }
}
