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
            }
        }
        """

    private func makeChannel() throws -> EmbeddedChannel {
        let configuration = try ConfigLoader.load(text: config, file: "/tmp/maitre-handler-test.conf", prefix: "/tmp/")
        let snapshot = try ProxySnapshot(configuration: configuration)
        let loop = EmbeddedEventLoop()
        let runtime = LoopRuntime(snapshot: snapshot, eventLoop: loop, log: ErrorLog(stderrAt: .emerg),
                                  connectionNumberBase: 0)
        let routes = try XCTUnwrap(snapshot.endpoints[ListenEndpoint(host: "127.0.0.1", port: 8080)])
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(HTTPProxyHandler(runtime: runtime, routes: routes, connectionNumber: 1))
        try channel.connect(to: SocketAddress(ipAddress: "10.1.2.3", port: 5000)).wait()
        return channel
    }

    private func request(_ channel: EmbeddedChannel, _ uri: String, method: HTTPMethod = .GET,
                         headers: [(String, String)] = [("Host", "example.com")], body: String? = nil) throws {
        var h = HTTPHeaders(headers)
        if let body { h.add(name: "Content-Length", value: String(body.utf8.count)) }
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: h)))
        if let body { try channel.writeInbound(HTTPServerRequestPart.body(ByteBuffer(string: body))) }
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
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

    /// A redirect `return` sets Location; an unmatched URI gets nginx's 404 page and keep-alive.
    func testRedirectAndNotFound() throws {
        let channel = try makeChannel()
        try request(channel, "/go")
        let redirect = try answer(channel)
        XCTAssertEqual(redirect.head.status.code, 302)
        XCTAssertEqual(redirect.head.headers["location"], ["/elsewhere"])
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
        try request(channel, "/app/x", method: .POST, body: "0123456789ABC")
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
}
