import NIOCore
import NIOHTTP1

/// Serialises requests to an upstream. As on the client side, framing is what the head says: the proxy
/// handler writes `content-length` or `transfer-encoding: chunked` itself, so nothing is added here.
final class UpstreamRequestEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = ByteBuffer

    private var chunked = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch Self.unwrapOutboundIn(data) {
        case .head(let head):
            var buffer = context.channel.allocator.buffer(capacity: 512)
            HTTPWire.writeRequestHead(head, into: &buffer)
            chunked = head.headers.isChunked
            context.write(Self.wrapOutboundOut(buffer), promise: promise)
        case .body(.byteBuffer(let body)):
            guard chunked, body.readableBytes > 0 else {
                context.write(Self.wrapOutboundOut(body), promise: promise)
                return
            }
            var prefix = context.channel.allocator.buffer(capacity: 12)
            HTTPWire.writeChunkPrefix(length: body.readableBytes, into: &prefix)
            context.write(Self.wrapOutboundOut(prefix), promise: nil)
            context.write(Self.wrapOutboundOut(body), promise: nil)
            context.write(Self.wrapOutboundOut(context.channel.allocator.crlf), promise: promise)
        case .body(.fileRegion(let region)):
            context.write(NIOAny(IOData.fileRegion(region)), promise: promise)
        case .end(let trailers):
            guard chunked else {
                if let promise {
                    context.write(Self.wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
                }
                return
            }
            chunked = false
            var last = context.channel.allocator.buffer(capacity: 5)
            HTTPWire.writeLastChunk(trailers: trailers, into: &last)
            context.write(Self.wrapOutboundOut(last), promise: promise)
        }
    }
}

@available(*, unavailable)
extension UpstreamRequestEncoder: Sendable {}
