import MaitreWire
import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import MaitreProxy

/// The upstream handler on an EmbeddedChannel: the request bytes it writes and the response it reassembles
/// from bytes split at awkward places.
final class UpstreamChannelHandlerTests: XCTestCase {
    final class Recorder: UpstreamResponseReceiver {
        var status: Int?
        var delivery: UpstreamBodyDelivery?
        var body = ""
        var ended = 0
        var failures: [UpstreamFailure] = []
        func upstreamResponseHead(_ head: UpstreamResponseHead) {
            status = head.status
            delivery = head.bodyDelivery
        }
        func upstreamResponseBody(_ body: ByteBuffer) { self.body += String(buffer: body) }
        func upstreamResponseEnd() { ended += 1 }
        func upstreamReadComplete() {}
        func upstreamWritabilityChanged(isWritable: Bool) {}
        func upstreamFailed(_ failure: UpstreamFailure) { failures.append(failure) }
    }

    /// Every channel a test made, closed in tearDown: an EmbeddedChannel left open keeps its pipeline, handler
    /// and UpstreamConnection alive for the rest of the test process, and LiveObjects counts them (the leak
    /// checks of the integration tests, which run in the same process, would see them).
    private var channels: [EmbeddedChannel] = []

    override func tearDown() {
        for channel in channels {
            // Closes if still open and runs the embedded loop, where the pipeline lets go of its handlers.
            _ = try? channel.finish(acceptAlreadyClosed: true)
            channel.embeddedEventLoop.run()
        }
        channels = []
    }

    private func make() throws -> (EmbeddedChannel, UpstreamConnection, UpstreamChannelHandler, Recorder) {
        let channel = EmbeddedChannel()
        channels.append(channel)
        let connection = UpstreamConnection(channel: channel, peerAddress: try SocketAddress(ipAddress: "127.0.0.1", port: 1), peerIndex: 0)
        let handler = UpstreamChannelHandler(connection: connection)
        connection.handler = handler
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        let recorder = Recorder()
        connection.lease(to: recorder)
        return (channel, connection, handler, recorder)
    }

    private func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }

    /// A chunked request body is chunk-framed; the serialised head is written as given.
    func testRequestBytes() throws {
        let (channel, _, handler, _) = try make()
        let head = ByteBuffer(string: "POST /x?y HTTP/1.1\r\nHost: pool\r\nTransfer-Encoding: chunked\r\n\r\n")
        handler.sendHead(UpstreamRequest(head: head, target: "/x?y", framing: .chunked))
        handler.sendBody(ByteBuffer(string: "abc"))
        handler.sendEnd()
        handler.flush()
        XCTAssertEqual(try written(channel),
                       "POST /x?y HTTP/1.1\r\nHost: pool\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    }

    /// A Content-Length response split inside the head and the body arrives whole, after a 100 Continue.
    func testLengthResponseSplitAnywhere() throws {
        let (channel, connection, handler, recorder) = try make()
        handler.expectResponse(toHead: false, clientTakesChunked: true, headLimit: 4096)
        let text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world"
        for piece in [String(text.prefix(30)), String(text.dropFirst(30).prefix(25)), String(text.dropFirst(55))] {
            try channel.writeInbound(ByteBuffer(string: piece))
        }
        XCTAssertEqual(recorder.status, 200)
        XCTAssertEqual(recorder.delivery, .length(11))
        XCTAssertEqual(recorder.body, "hello world")
        XCTAssertEqual(recorder.ended, 1)
        XCTAssertTrue(connection.isUsable)
    }

    /// Chunked bodies pass through unchanged for chunked clients, and are reduced to their data otherwise.
    func testChunkedPassthroughAndDecoded() throws {
        let wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
        let (channel, _, handler, recorder) = try make()
        handler.expectResponse(toHead: false, clientTakesChunked: true, headLimit: 4096)
        try channel.writeInbound(ByteBuffer(string: wire))
        XCTAssertEqual(recorder.delivery, .chunkedPassthrough)
        XCTAssertEqual(recorder.body, "5\r\nhello\r\n0\r\n\r\n")
        XCTAssertEqual(recorder.ended, 1)

        let (channel2, _, handler2, recorder2) = try make()
        handler2.expectResponse(toHead: false, clientTakesChunked: false, headLimit: 4096)
        try channel2.writeInbound(ByteBuffer(string: wire))
        XCTAssertEqual(recorder2.delivery, .chunkedDecoded)
        XCTAssertEqual(recorder2.body, "hello")
        XCTAssertEqual(recorder2.ended, 1)
    }

    /// A response to HEAD has no body even with a Content-Length; bytes beyond a response spoil the connection.
    func testHeadResponseAndTrailingBytes() throws {
        let (channel, connection, handler, recorder) = try make()
        handler.expectResponse(toHead: true, clientTakesChunked: true, headLimit: 4096)
        try channel.writeInbound(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"))
        XCTAssertEqual(recorder.delivery, UpstreamBodyDelivery.none)
        XCTAssertEqual(recorder.ended, 1)
        XCTAssertTrue(connection.isUsable)

        let (channel2, connection2, handler2, recorder2) = try make()
        handler2.expectResponse(toHead: false, clientTakesChunked: true, headLimit: 4096)
        try channel2.writeInbound(ByteBuffer(string: "HTTP/1.1 204 No Content\r\n\r\nEXTRA"))
        XCTAssertEqual(recorder2.ended, 1)
        XCTAssertFalse(connection2.isUsable)
    }

    /// A head over proxy_buffer_size, garbage, or an unknown transfer coding fail as invalid_header.
    func testInvalidResponses() throws {
        for wire in ["HTTP/1.1 200 OK\r\nX: " + String(repeating: "y", count: 200) + "\r\n\r\n",
                     "this is not http\r\n\r\n",
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"] {
            let (channel, _, handler, recorder) = try make()
            handler.expectResponse(toHead: false, clientTakesChunked: true, headLimit: 128)
            try channel.writeInbound(ByteBuffer(string: wire))
            XCTAssertEqual(recorder.failures.count, 1, wire)
            if case .invalidHeader = recorder.failures.first {} else { XCTFail("expected invalid_header for \(wire)") }
        }
    }
}
