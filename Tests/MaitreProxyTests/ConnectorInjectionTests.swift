import MaitreConfig
import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// Upstream connections come from an injected connector: here EmbeddedChannels on the test's loop, so connects,
/// failures, retries and pooling are driven byte by byte without sockets.
final class ConnectorInjectionTests: XCTestCase {
    /// Hands out EmbeddedChannels, already connected, and keeps them for the test.
    final class EmbeddedConnector: UpstreamConnector {
        let loop: EmbeddedEventLoop
        private(set) var channels: [(peer: Int, channel: EmbeddedChannel)] = []
        init(loop: EmbeddedEventLoop) { self.loop = loop }

        func connect(
            to address: SocketAddress, peerIndex: Int, connectTimeout: TimeAmount, writeBufferHigh: Int,
            loop context: LoopContext
        ) -> EventLoopFuture<UpstreamConnection> {
            let channel = EmbeddedChannel(loop: loop)
            do {
                let connection = try UpstreamConnection.attach(
                    to: channel, address: address, peerIndex: peerIndex, loop: context)
                try channel.connect(to: address).wait()
                channels.append((peerIndex, channel))
                return loop.assumeIsolated().makeSucceededFuture(connection)
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
    }

    private let config = """
        http {
            upstream app { server 127.0.0.1:1001; server 127.0.0.1:1002; }
            server {
                listen 127.0.0.1:8080;
                location / { proxy_pass http://app; }
            }
        }
        """

    private func outbound(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    /// The first peer drops the connection before answering: the request goes to the second peer, the client gets
    /// its answer, and the next request reuses that pooled connection instead of connecting again.
    func testFailedAttemptMovesToTheNextPeerAndThePoolIsReused() throws {
        let configuration = try ConfigLoader.load(text: config, file: "/tmp/maitre-connector-test.conf", prefix: "/tmp/")
        let snapshot = try ProxySnapshot(configuration: configuration)
        let loop = EmbeddedEventLoop()
        let context = LoopContext(snapshot: snapshot, eventLoop: loop, log: ErrorLog(stderrAt: .emerg), index: 0,
                                  loopCount: 1)
        let connector = EmbeddedConnector(loop: loop)
        context.connector = connector
        let endpoint = ListenEndpoint(host: "127.0.0.1", port: 8080)
        let client = EmbeddedChannel(loop: loop)
        try client.pipeline.syncOperations.addHandler(HTTPProxyHandler(
            loop: context, endpoint: endpoint, routes: try XCTUnwrap(snapshot.endpoints[endpoint]), connectionNumber: 1))
        try client.connect(to: SocketAddress(ipAddress: "10.0.0.1", port: 4000)).wait()

        try client.writeInbound(ByteBuffer(string: "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        XCTAssertEqual(connector.channels.count, 1)
        let first = connector.channels[0]
        XCTAssertEqual(first.peer, 0, "smooth round robin starts with the first server")
        XCTAssertTrue(try outbound(first.channel).hasPrefix("GET /a HTTP/1.1\r\n"))

        // The peer closes without a byte of response: proxy_next_upstream error moves on.
        first.channel.pipeline.fireChannelInactive()
        loop.run()
        XCTAssertEqual(connector.channels.count, 2)
        let second = connector.channels[1]
        XCTAssertEqual(second.peer, 1)
        XCTAssertTrue(try outbound(second.channel).hasPrefix("GET /a HTTP/1.1\r\n"))
        XCTAssertEqual(try outbound(client), "", "nothing reaches the client before an answer")

        try second.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"))
        loop.run()
        let answer = try outbound(client)
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), answer)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\nhi"), answer)

        // The failed peer is out for fail_timeout; the second peer's pooled connection carries the next request.
        try client.writeInbound(ByteBuffer(string: "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"))
        loop.run()
        XCTAssertEqual(connector.channels.count, 2, "no new connection: the pooled one was reused")
        XCTAssertTrue(try outbound(second.channel).hasPrefix("GET /b HTTP/1.1\r\n"))
        try second.channel.writeInbound(ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\n"))
        loop.run()
        XCTAssertTrue(try outbound(client).hasPrefix("HTTP/1.1 204 No Content\r\n"))
    }
}
