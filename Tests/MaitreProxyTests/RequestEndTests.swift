import MaitreBalancing
import MaitreConfig
import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// Every request ends in one place with one record: proxied, retried, answered locally or abandoned by the
/// client. Driven on EmbeddedChannels with the loop's virtual clock, so the times in the record are exact.
final class RequestEndTests: EmbeddedProxyTestCase {
    final class Recorder: RequestEndObserver {
        struct Entry: Equatable {
            var requestLine: String?
            var status: Int
            var completed: Bool
            var bodyBytes: Int
            var requestNumber: Int
            var attempts: [String]
            var durationMilliseconds: Int64
        }
        var entries: [Entry] = []

        func requestEnded(_ end: RequestEnd) {
            var attempts: [String] = []
            end.upstream?.attempts.forEach { attempts.append("\(end.address(of: $0)) \($0.status)") }
            entries.append(Entry(
                requestLine: end.request?.requestLine, status: end.status, completed: end.completed,
                bodyBytes: end.bodyBytesSent, requestNumber: end.requestNumber, attempts: attempts,
                durationMilliseconds: (end.endedAt - end.startedAt) / 1_000_000))
        }
    }

    private var proxy: EmbeddedProxy!
    private var client: EmbeddedChannel!
    private let recorder = Recorder()
    private var loop: EmbeddedEventLoop { proxy.loop }

    // In setUp, after super's: the base class counts live objects there, before anything of the test exists.
    override func setUp() {
        super.setUp()
        XCTAssertNoThrow(try start())
    }

    private func start() throws {
        proxy = try makeProxy("""
            http {
                upstream app { server 127.0.0.1:1001; server 127.0.0.1:1002; }
                server {
                    listen 127.0.0.1:8080;
                    location / { proxy_pass http://app; }
                    location = /local { return 204; }
                }
            }
            """)
        proxy.context.requestEndObserver = recorder
        client = try proxy.connectClient()
    }

    func testRetriedRequestIsOneRecordWithEveryAttempt() throws {
        try client.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        loop.advanceTime(by: .milliseconds(3))
        try proxy.upstream(0).pipeline.fireChannelInactive()  // the first peer drops the request
        loop.run()
        loop.advanceTime(by: .milliseconds(5))
        try proxy.upstream(1).writeInbound(
            ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
        loop.run()
        XCTAssertEqual(recorder.entries, [Recorder.Entry(
            requestLine: "GET /a HTTP/1.1", status: 200, completed: true, bodyBytes: 5, requestNumber: 1,
            attempts: ["127.0.0.1:1001 502", "127.0.0.1:1002 200"], durationMilliseconds: 8)])
    }

    func testLocalAnswersAndNoLiveUpstreamsEndThereToo() throws {
        try client.writeInbound(ByteBuffer(string: "GET /local HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        // Both peers drop the request: after the second failure no try is left and maitred answers 502.
        try client.writeInbound(ByteBuffer(string: "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        try proxy.upstream(0).pipeline.fireChannelInactive()
        loop.run()
        try proxy.upstream(1).pipeline.fireChannelInactive()
        loop.run()
        XCTAssertEqual(recorder.entries.map(\.requestLine), ["GET /local HTTP/1.1", "GET /b HTTP/1.1"])
        XCTAssertEqual(recorder.entries.map(\.status), [204, 502])
        XCTAssertEqual(recorder.entries.map(\.requestNumber), [1, 2])
        XCTAssertEqual(recorder.entries[0].attempts, [], "a local answer has no upstream")
        XCTAssertEqual(recorder.entries[1].attempts, ["127.0.0.1:1001 502", "127.0.0.1:1002 502"])
        XCTAssertGreaterThan(recorder.entries[1].bodyBytes, 0, "maitred's error page went out")
    }

    func testClientLeavingBeforeTheResponseIs499() throws {
        try client.writeInbound(ByteBuffer(string: "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        loop.advanceTime(by: .milliseconds(40))
        client.pipeline.fireChannelInactive()
        loop.run()
        XCTAssertEqual(recorder.entries, [Recorder.Entry(
            requestLine: "GET /slow HTTP/1.1", status: 499, completed: false, bodyBytes: 0, requestNumber: 1,
            attempts: ["127.0.0.1:1001 0"], durationMilliseconds: 40)])
    }

    /// nginx's `$request` falls back to the first line as received when the request line cannot be parsed.
    func testUnparsableHeadEndsWithItsFirstLineAsReceived() throws {
        try client.writeInbound(ByteBuffer(string: "GARBAGE\r\n\r\n"))
        loop.run()
        XCTAssertEqual(recorder.entries.count, 1)
        XCTAssertEqual(recorder.entries.first?.requestLine, "GARBAGE")
        XCTAssertEqual(recorder.entries.first?.status, 400)
    }
}
