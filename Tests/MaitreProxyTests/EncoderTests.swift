import NIOCore
import NIOEmbedded
import NIOHTTP1
import XCTest

@testable import MaitreProxy

/// The upstream request serialiser writes exactly the framing its head announces, and nothing else.
final class EncoderTests: XCTestCase {
    private func outboundString(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            text += String(buffer: buffer)
        }
        return text
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

    /// A Content-Length request body goes out as is, and the end adds nothing.
    func testUpstreamRequestWithLength() throws {
        let channel = EmbeddedChannel(handler: UpstreamRequestEncoder())
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "2")
        try channel.writeOutbound(HTTPClientRequestPart.head(HTTPRequestHead(version: .http1_0, method: .PUT, uri: "/", headers: headers)))
        try channel.writeOutbound(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: "hi"))))
        try channel.writeOutbound(HTTPClientRequestPart.end(nil))
        XCTAssertEqual(try outboundString(channel), "PUT / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertTrue(try channel.finish().isClean)
    }
}
