import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import MaitreProxy

/// The two serialisers write exactly the framing their heads announce, and nothing else.
final class EncoderTests: XCTestCase {
    private func outboundString(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
    }

    /// A Content-Length response is written as is.
    func testResponseWithLength() throws {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "2")
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "hi"))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        XCTAssertEqual(try outboundString(channel), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertTrue(try channel.finish().isClean)
    }

    /// A chunked head makes every body part a chunk and the end a last-chunk.
    func testChunkedResponse() throws {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "hello world!"))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        XCTAssertEqual(try outboundString(channel),
                       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nc\r\nhello world!\r\n0\r\n\r\n")
    }

    /// No framing header (a HEAD answer, or close-delimited for HTTP/1.0): no chunking is invented.
    func testResponseWithoutFramingAddsNothing() throws {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_0, status: .ok)))
        try channel.writeOutbound(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: "raw"))))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        XCTAssertEqual(try outboundString(channel), "HTTP/1.0 200 OK\r\n\r\nraw")
    }

    /// An interim 100 Continue does not disturb the framing of the final response.
    func testInterimResponseThenChunked() throws {
        let channel = EmbeddedChannel(handler: ClientResponseEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .continue)))
        try channel.writeOutbound(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
        try channel.writeOutbound(HTTPServerResponsePart.end(nil))
        XCTAssertEqual(try outboundString(channel),
                       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    }

    /// Upstream requests: the request line carries the rewritten target; chunked bodies are re-chunked.
    func testUpstreamRequestChunked() throws {
        let channel = EmbeddedChannel(handler: UpstreamRequestEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "pool")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/x?y", headers: headers)))
        try channel.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "abc"))))
        try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        XCTAssertEqual(try outboundString(channel),
                       "POST /x?y HTTP/1.1\r\nHost: pool\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    }
}
