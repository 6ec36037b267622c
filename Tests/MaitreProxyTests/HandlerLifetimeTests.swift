import MaitreConfig
import NIOCore
import NIOEmbedded
import XCTest

@testable import MaitreProxy

/// A closed client connection frees its handler and the handler's context. NIO's context keeps its handler
/// for good, so a handler that kept its context past removal made a cycle that leaked both (about 870 bytes per
/// connection, commit d74b44e): HTTPProxyHandler.handlerRemoved must drop the context.
final class HandlerLifetimeTests: XCTestCase {
    private let config = """
        http {
            server {
                listen 127.0.0.1:8080;
                server_name example.com;
                location = /hello { return 200 "hello"; }
            }
        }
        """

    func testHandlerAndContextAreFreedWhenTheChannelCloses() throws {
        let configuration = try ConfigLoader.load(text: config, file: "/tmp/maitre-lifetime-test.conf", prefix: "/tmp/")
        let snapshot = try ProxySnapshot(configuration: configuration)
        let loop = EmbeddedEventLoop()
        let loopContext = LoopContext(snapshot: snapshot, eventLoop: loop, log: ErrorLog(stderrAt: .emerg), index: 0,
                                      loopCount: 1)
        let endpoint = ListenEndpoint(host: "127.0.0.1", port: 8080)
        let routes = try XCTUnwrap(snapshot.endpoints[endpoint])
        let channel = EmbeddedChannel(loop: loop)

        weak var weakHandler: HTTPProxyHandler?
        weak var weakContext: ChannelHandlerContext?
        do {
            let handler = HTTPProxyHandler(loop: loopContext, endpoint: endpoint, routes: routes, connectionNumber: 1)
            try channel.pipeline.syncOperations.addHandler(handler)
            weakHandler = handler
            weakContext = try channel.pipeline.syncOperations.context(handler: handler)
        }
        try channel.connect(to: SocketAddress(ipAddress: "10.1.2.3", port: 5000)).wait()

        // A served request first, so the handler holds what a used connection holds.
        try channel.writeInbound(ByteBuffer(string: "GET /hello HTTP/1.1\r\nHost: example.com\r\n\r\n"))
        var answer = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { answer += String(buffer: buffer) }
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 "), answer)
        XCTAssertTrue(answer.hasSuffix("\r\n\r\nhello"), answer)
        XCTAssertNotNil(weakHandler, "alive while its channel is open")
        XCTAssertNotNil(weakContext)

        try channel.close().wait()
        loop.run()
        // The channel object itself is still referenced here: only the handler<->context cycle could keep them.
        XCTAssertNil(weakHandler, "HTTPProxyHandler outlived its closed channel")
        XCTAssertNil(weakContext, "its ChannelHandlerContext outlived the closed channel")
        XCTAssertFalse(channel.isActive)
    }
}
