import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// Upstream connections come from an injected connector: here EmbeddedChannels on the test's loop
/// (`EmbeddedConnector`, EmbeddedProxySupport.swift), so connects, failures, retries and pooling are driven byte by
/// byte without sockets.
final class ConnectorInjectionTests: EmbeddedProxyTestCase {
    private let config = """
        http {
            upstream app { server 127.0.0.1:1001; server 127.0.0.1:1002; }
            server {
                listen 127.0.0.1:8080;
                location / { proxy_pass http://app; }
            }
        }
        """

    /// The first peer drops the connection before answering: the request goes to the second peer, the client gets
    /// its answer, and the next request reuses that pooled connection instead of connecting again.
    func testFailedAttemptMovesToTheNextPeerAndThePoolIsReused() throws {
        let proxy = try makeProxy(config)
        let connector = proxy.connector
        let client = try proxy.connectClient()

        try client.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(connector.channels.count, 1)
        let first = try XCTUnwrap(connector.channels.first)
        XCTAssertEqual(first.peer, 0, "smooth round robin starts with the first server")
        XCTAssertTrue(try first.channel.sent().hasPrefix("GET /a HTTP/1.1\r\n"))

        // The peer closes without a byte of response: proxy_next_upstream error moves on.
        first.channel.pipeline.fireChannelInactive()
        proxy.loop.run()
        XCTAssertEqual(connector.channels.count, 2)
        let second = try XCTUnwrap(connector.channels.last)
        XCTAssertEqual(second.peer, 1)
        XCTAssertTrue(try second.channel.sent().hasPrefix("GET /a HTTP/1.1\r\n"))
        XCTAssertEqual(try client.sent(), "", "nothing reaches the client before an answer")

        try second.channel.receive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        let answer = try client.sent()
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), answer)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\nhi"), answer)

        // The failed peer is out for fail_timeout; the second peer's pooled connection carries the next request.
        try client.receive("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        XCTAssertEqual(connector.channels.count, 2, "no new connection: the pooled one was reused")
        XCTAssertTrue(try second.channel.sent().hasPrefix("GET /b HTTP/1.1\r\n"))
        try second.channel.receive("HTTP/1.1 204 No Content\r\n\r\n")
        XCTAssertTrue(try client.sent().hasPrefix("HTTP/1.1 204 No Content\r\n"))
    }
}
