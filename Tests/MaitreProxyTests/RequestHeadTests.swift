import MaitreConfig
import NIOCore
import MaitreWire
import XCTest

@testable import MaitreProxy

/// The upstream request head follows nginx's proxy module: set headers first, hop-by-hop headers dropped.
final class RequestHeadTests: XCTestCase {
    private func clientRequest(_ text: String) throws -> ClientRequest {
        parsedRequest(text)
    }

    private func location(_ settings: ProxySettings) -> Location {
        Location(match: .prefix("/", stopsRegexSearch: false), children: [], handler: nil, settings: settings,
                 source: SourceLocation(file: "test.conf", line: 1))
    }

    private func variables(_ head: ClientRequest) -> RequestVariables {
        let addresses = ConnectionAddresses(
            remote: try! SocketAddress(ipAddress: "10.0.0.9", port: 5555),
            local: try! SocketAddress(ipAddress: "127.0.0.1", port: 8080))
        return RequestVariables(request: head, addresses: addresses, serverName: "example.com", host: "example.com",
                                uri: "/a", args: "b=1", proxyHost: "backend")
    }

    /// Defaults: Host becomes $proxy_host, no Connection header, client hop-by-hop headers dropped.
    func testDefaultsAndHopByHop() throws {
        let head = try clientRequest(
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\n"
            + "Keep-Alive: timeout=5\r\nUpgrade: websocket\r\nTrailer: X-T\r\nAccept:*/*\r\nTE: trailers\r\n\r\n")
        var scratch: [String] = []
        let out = try XCTUnwrap(UpstreamRequestBuilder.build(
            for: head, target: "/a?b=1", location: location(ProxySettings()), variables: variables(head),
            framing: .none, into: ByteBuffer(), values: &scratch))
        XCTAssertEqual(String(buffer: out.head), "GET /a?b=1 HTTP/1.1\r\nHost: backend\r\nAccept: */*\r\n\r\n")
        XCTAssertFalse(out.hasBody)
    }

    /// X-Forwarded-For appends the client address to what came in; an empty value removes a header.
    func testForwardedForAndRemoval() throws {
        var settings = ProxySettings()
        settings.proxySetHeaders = [
            HeaderSetting(name: "X-Forwarded-For", value: VariableTemplate(parts: [.variable(.proxyAddXForwardedFor)])),
            HeaderSetting(name: "Accept-Encoding", value: VariableTemplate(parts: [])),
            HeaderSetting(name: "X-Real-IP", value: VariableTemplate(parts: [.variable(.remoteAddr)])),
        ]
        let head = try clientRequest(
            "POST / HTTP/1.1\r\nX-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\nAccept-Encoding: gzip\r\n\r\n")
        settings.proxyHTTPVersion = .http1_0
        var scratch: [String] = []
        let out = try XCTUnwrap(UpstreamRequestBuilder.build(
            for: head, target: "/", location: location(settings), variables: variables(head),
            framing: .contentLength(3), into: ByteBuffer(), values: &scratch))
        // The builder sends exactly the merged list it is given (no Host here), then framing, then client headers
        // not overridden (X-Forwarded-For and Accept-Encoding are).
        XCTAssertEqual(String(buffer: out.head),
                       "POST / HTTP/1.0\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\nX-Real-IP: 10.0.0.9\r\n"
                       + "Content-Length: 3\r\n\r\n")
        XCTAssertTrue(out.hasBody)
    }

    /// Request targets: origin form, query split, absolute form reduced to its path.
    func testSplitTarget() {
        XCTAssertTrue(RequestTarget.split("/a/b?x=1") == ("/a/b", "x=1"))
        XCTAssertTrue(RequestTarget.split("/a") == ("/a", nil))
        XCTAssertTrue(RequestTarget.split("http://h.example/p?q") == ("/p", "q"))
        XCTAssertTrue(RequestTarget.split("http://h.example") == ("/", nil))
        XCTAssertTrue(RequestTarget.split("*") == (nil, nil))
    }

    /// $host: the Host header's name, lowercased, without port or trailing dot; nginx's refusals.
    func testHostCheck() throws {
        func check(_ host: String) throws -> RequestRecord.HostCheck {
            try clientRequest("GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").record.checkHost()
        }
        XCTAssertEqual(try check("Example.COM:8080"), .name("example.com"))
        XCTAssertEqual(try check("example.com."), .name("example.com"))
        XCTAssertEqual(try check("[::1]:80"), .name("[::1]"))
        XCTAssertEqual(try check(".lead"), .name(".lead"))
        XCTAssertEqual(try check("a..b"), .invalid)
        XCTAssertEqual(try check("a/b"), .invalid)
        XCTAssertEqual(try check(":80"), .invalid)
        XCTAssertEqual(try clientRequest("GET / HTTP/1.0\r\n\r\n").record.checkHost(), .absent)
        XCTAssertEqual(try clientRequest("GET / HTTP/1.1\r\nHost:\r\n\r\n").record.checkHost(), .invalid)
    }
}
