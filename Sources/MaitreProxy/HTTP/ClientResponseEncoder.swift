import NIOCore
import NIOHTTP1

/// Serialises responses to the client. Framing is decided by the proxy handler and stated in the head's own
/// headers (`transfer-encoding: chunked` means chunk the body; anything else means write body bytes as they
/// come), so this encoder never invents headers: unlike NIO's `HTTPResponseEncoder` it adds no framing of its
/// own, which is what HEAD responses and close-delimited bodies need.
final class ClientResponseEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = ByteBuffer

    private var framing = BodyFramingWriter()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            var buffer = context.channel.allocator.buffer(capacity: 256)
            HTTPWire.writeResponseHead(head, into: &buffer)
            if !head.status.isInformational {
                framing.start(headers: head.headers)
            }
            context.write(Self.wrapOutboundOut(buffer), promise: promise)
        case .body(.byteBuffer(let body)):
            framing.writeBody(body, context: context, promise: promise)
        case .body(.fileRegion(let region)):
            context.write(NIOAny(IOData.fileRegion(region)), promise: promise)
        case .end(let trailers):
            framing.writeEnd(trailers: trailers, context: context, promise: promise)
        }
    }
}

@available(*, unavailable)
extension ClientResponseEncoder: Sendable {}

extension HTTPResponseStatus {
    var isInformational: Bool { code >= 100 && code < 200 }
}

extension HTTPHeaders {
    /// True when the last transfer coding is `chunked`, as RFC 9112 §6.1 reads it.
    var isChunked: Bool {
        guard let value = self["transfer-encoding"].last else { return false }
        guard let last = value.split(separator: ",").last else { return false }
        return last.trimmingASCIISpaces().lowercased() == "chunked"
    }
}

extension Substring {
    func trimmingASCIISpaces() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return s
    }
}

extension ByteBufferAllocator {
    var crlf: ByteBuffer {
        var b = buffer(capacity: 2)
        b.writeStaticString("\r\n")
        return b
    }
}
