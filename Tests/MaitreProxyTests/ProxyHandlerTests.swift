import MaitreConfig
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Foundation
import XCTest

@testable import MaitreProxy

/// HTTPProxyHandler driven on an EmbeddedChannel: every answer maitred gives by itself, without sockets.
final class ProxyHandlerTests: XCTestCase {
    private let config = """
        http {
            upstream gone { server 127.0.0.1:9 down; }
            server {
                listen 127.0.0.1:8080;
                server_name example.com;
                client_max_body_size 10;
                location = /hello { return 200 "hello $host"; }
                location /app/ { proxy_pass http://gone; }
                location /go { return 302 /elsewhere; }
                location = /echo { return 200 "[$http_x_y][$http_x_z][$request_method $request_uri]"; }
            }
        }
        """

    /// Every channel a test made, closed in tearDown: an EmbeddedChannel left open keeps its pipeline and
    /// handler alive for the rest of the test process, and LiveObjects counts them (the leak checks of the
    /// integration tests, which run in the same process, would see them).
    private var channels: [EmbeddedChannel] = []

    override func tearDown() {
        for channel in channels {
            // Closes if still open and runs the embedded loop, where the pipeline lets go of its handlers.
            _ = try? channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
        }
        channels = []
    }

    private func makeChannel(config: String? = nil) throws -> EmbeddedChannel {
        let configuration = try ConfigLoader.load(
            text: config ?? self.config, file: "/tmp/maitre-handler-test.conf", prefix: "/tmp/")
        let snapshot = try ProxySnapshot(configuration: configuration)
        let loop = EmbeddedEventLoop()
        let context = LoopContext(snapshot: snapshot, eventLoop: loop, log: ErrorLog(stderrAt: .emerg), index: 0,
                                  loopCount: 1)
        let endpoint = ListenEndpoint(host: "127.0.0.1", port: 8080)
        let routes = try XCTUnwrap(snapshot.endpoints[endpoint])
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(
            HTTPProxyHandler(loop: context, endpoint: endpoint, routes: routes, connectionNumber: 1))
        channels.append(channel)
        try channel.connect(to: SocketAddress(ipAddress: "10.1.2.3", port: 5000)).wait()
        return channel
    }

    private func request(_ channel: EmbeddedChannel, _ uri: String, method: String = "GET",
                         headers: [(String, String)] = [("Host", "example.com")], body: String? = nil) throws {
        var text = "\(method) \(uri) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + (body ?? "")
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Every byte as its own read: the head parser resumes across reads.
    private func writeByteByByte(_ channel: EmbeddedChannel, _ text: String) throws {
        for byte in text.utf8 {
            var buffer = ByteBuffer()
            buffer.writeInteger(byte)
            try channel.writeInbound(buffer)
        }
    }

    /// All responses written so far, as text.
    private func output(_ channel: EmbeddedChannel) throws -> String {
        var bytes = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += String(buffer: buffer) }
        return bytes
    }

    private struct Answer {
        var head: HTTPResponseHead
        var body: String
    }

    /// Reads the bytes the handler wrote and parses one Content-Length framed response from them.
    private func answer(_ channel: EmbeddedChannel) throws -> Answer {
        var bytes = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes += String(buffer: buffer) }
        guard let split = bytes.range(of: "\r\n\r\n") else { throw TestFailure("no response head in \(bytes)") }
        var lines = bytes[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusLine.count == 3, let code = Int(statusLine[1]) else { throw TestFailure("bad status line") }
        var headers = HTTPHeaders()
        for line in lines {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers.add(name: String(parts[0]), value: String(parts[1].dropFirst()))
        }
        let body = String(bytes[split.upperBound...])
        XCTAssertEqual(headers["content-length"], [String(body.utf8.count)], "one complete response")
        return Answer(head: HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: code), headers: headers),
                      body: body)
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// `return 200 TEXT` answers with the evaluated text and keeps the connection.
    func testReturnText() throws {
        let channel = try makeChannel()
        try request(channel, "/hello")
        let a = try answer(channel)
        XCTAssertEqual(a.head.status, .ok)
        XCTAssertEqual(a.body, "hello example.com")
        XCTAssertEqual(a.head.headers["content-length"], ["17"])
        XCTAssertEqual(a.head.headers["connection"], ["keep-alive"])
        XCTAssertTrue(channel.isActive)
    }

    /// A redirect `return` sets Location, made absolute as nginx's `absolute_redirect` makes it (no port: the
    /// embedded channel has no local address); an unmatched URI gets nginx's 404 page and keep-alive.
    func testRedirectAndNotFound() throws {
        let channel = try makeChannel()
        try request(channel, "/go")
        let redirect = try answer(channel)
        XCTAssertEqual(redirect.head.status.code, 302)
        XCTAssertEqual(redirect.head.headers["location"], ["http://example.com/elsewhere"])
        try request(channel, "/nothing")
        let missing = try answer(channel)
        XCTAssertEqual(missing.head.status, .notFound)
        XCTAssertTrue(missing.body.contains("<title>404 Not Found</title>"))
        XCTAssertTrue(channel.isActive)
    }

    /// `/app` when `location /app/` proxies: nginx's 301 to `/app/`.
    func testAutoRedirectToSlash() throws {
        let channel = try makeChannel()
        try request(channel, "/app?x=1")
        let a = try answer(channel)
        XCTAssertEqual(a.head.status, .movedPermanently)
        XCTAssertEqual(a.head.headers["location"], ["http://example.com/app/?x=1"])
    }

    /// HTTP/1.1 without Host is a 400 and the connection closes.
    func testMissingHostIs400AndCloses() throws {
        let channel = try makeChannel()
        try request(channel, "/hello", headers: [])
        let a = try answer(channel)
        XCTAssertEqual(a.head.status, .badRequest)
        XCTAssertEqual(a.head.headers["connection"], ["close"])
        (channel.eventLoop as! EmbeddedEventLoop).run()
        XCTAssertFalse(channel.isActive)
    }

    /// A declared body over client_max_body_size is refused with 413 before anything is proxied.
    func testBodyTooLargeIs413() throws {
        let channel = try makeChannel()
        try request(channel, "/app/x", method: "POST", body: "0123456789ABC")
        let a = try answer(channel)
        XCTAssertEqual(a.head.status.code, 413)
        XCTAssertTrue(a.body.contains("413 Request Entity Too Large"))
    }

    /// Every server of the upstream down: nginx's "no live upstreams" 502, without any connection attempt.
    func testNoLiveUpstreamsIs502() throws {
        let channel = try makeChannel()
        try request(channel, "/app/x")
        let a = try answer(channel)
        XCTAssertEqual(a.head.status, .badGateway)
        XCTAssertTrue(a.body.contains("502 Bad Gateway"))
        XCTAssertEqual(a.head.headers["connection"], ["keep-alive"])
    }

    /// A head that arrives one byte per read is parsed once complete; bare LF line ends are accepted (as nginx).
    func testHeadSplitAcrossReadsAndBareLF() throws {
        let channel = try makeChannel()
        try writeByteByByte(channel, "GET /hello HTTP/1.1\r\nHost: Example.COM\r\n\r\n")
        XCTAssertEqual(try answer(channel).body, "hello example.com")
        try channel.writeInbound(ByteBuffer(string: "\r\nGET  /echo?q=1 HTTP/1.1\nHost: example.com\nX-Y: 1\n\n"))
        XCTAssertEqual(try answer(channel).body, "[1][][GET /echo?q=1]")
    }

    /// Header names nginx ignores by default (underscores, other symbols) are dropped, not refused.
    func testIgnoredHeaderNames() throws {
        let channel = try makeChannel()
        try request(channel, "/echo", headers: [("Host", "example.com"), ("X_Y", "under"), ("X.Z", "dot")])
        XCTAssertEqual(try answer(channel).body, "[][][GET /echo]")
        // A malformed chunk after the answer: nothing more can be read on this connection, so it closes.
        try channel.writeInbound(ByteBuffer(string: "POST /echo HTTP/1.1\r\nHost: example.com\r\n"
                                            + "Transfer-Encoding: chunked\r\n\r\nzz\r\n"))
        XCTAssertEqual(try answer(channel).body, "[][][POST /echo]")
        (channel.eventLoop as! EmbeddedEventLoop).run()
        XCTAssertFalse(channel.isActive)
    }

    /// Three pipelined requests in one read are answered in order, each once.
    func testPipelinedInOneRead() throws {
        let channel = try makeChannel()
        let one = "GET /echo?1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
        let two = "POST /echo?2 HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
        let three = "GET /echo?3 HTTP/1.1\r\nHost: example.com\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: one + two + three))
        let text = try output(channel)
        let bodies = text.components(separatedBy: "\r\n\r\n").dropFirst().map { $0.prefix { $0 != "H" } }
        XCTAssertEqual(bodies, ["[][][GET /echo?1]", "[][][POST /echo?2]", "[][][GET /echo?3]"])
        XCTAssertTrue(channel.isActive)
    }

    /// A chunked body is read to its end and the next request on the connection is served.
    func testChunkedBodyThenNextRequest() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(string: "POST /echo HTTP/1.1\r\nHost: example.com\r\n"
                                            + "Transfer-Encoding: chunked\r\n\r\n3\r\nab"))
        XCTAssertEqual(try answer(channel).body, "[][][POST /echo]")
        try channel.writeInbound(ByteBuffer(string: "c\r\n0\r\n\r\nGET /echo HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        XCTAssertEqual(try answer(channel).body, "[][][GET /echo]")
    }

    /// Heads the parser refuses get nginx's status and the connection closes.
    func testRefusedHeads() throws {
        let cases: [(String, Int)] = [
            ("GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: example.com\r\n\r\n", 414),
            ("GET /a HTTP/1.1\r\nHost: example.com\r\nX-A: " + String(repeating: "a", count: 9000) + "\r\n\r\n", 400),
            ("GET /a HTTP/2.0\r\nHost: example.com\r\n\r\n", 505),
            ("get /a HTTP/1.1\r\nHost: example.com\r\n\r\n", 400),
            ("GET /a HTTP/1.1\r\nHost: example.com\r\nX-A : 1\r\n\r\n", 400),
            ("GET /a HTTP/1.1\r\nHost: example.com\r\nHost: other\r\n\r\n", 400),
            ("GET /a HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
            ("POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", 400),
            ("POST /a HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            ("POST /a HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("POST /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ]
        for (text, status) in cases {
            let channel = try makeChannel()
            try channel.writeInbound(ByteBuffer(string: text))
            let out = try output(channel)
            XCTAssertTrue(out.hasPrefix("HTTP/1.1 \(status) "), "\(text.prefix(60)) -> \(out.prefix(40))")
            XCTAssertTrue(out.contains("Connection: close"), String(text.prefix(60)))
            (channel.eventLoop as! EmbeddedEventLoop).run()
            XCTAssertFalse(channel.isActive, String(text.prefix(60)))
        }
    }

    /// The default server's large_client_header_buffers and underscores_in_headers decide how heads are read.
    func testHeadRulesFromTheDefaultServer() throws {
        let configured = config.replacingOccurrences(
            of: "client_max_body_size 10;",
            with: "client_max_body_size 10; large_client_header_buffers 2 1k; underscores_in_headers on;")
        let channel = try makeChannel(config: configured)
        try request(channel, "/echo", headers: [("Host", "example.com"), ("X_Y", "under")])
        XCTAssertEqual(try answer(channel).body, "[under][][GET /echo]")
        try channel.writeInbound(ByteBuffer(string: "GET /" + String(repeating: "a", count: 1100) + " HTTP/1.1\r\n"))
        XCTAssertTrue(try output(channel).hasPrefix("HTTP/1.1 414 "))
    }
}
