import NIOCore
import NIOHTTP1

/// Serialises requests to an upstream. As on the client side, framing is what the head says: the proxy
/// handler writes `content-length` or `transfer-encoding: chunked` itself, so nothing is added here.
final class UpstreamRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    private var framing = BodyFramingWriter()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            var buffer = context.channel.allocator.buffer(capacity: 512)
            HTTPWire.writeRequestHead(head, into: &buffer)
            framing.start(headers: head.headers)
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
extension UpstreamRequestEncoder: Sendable {}
