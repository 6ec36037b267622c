import NIOCore

/// Writes message bodies in the framing their head announced, for both directions: chunked when the head said
/// `transfer-encoding: chunked`, as-is otherwise (Content-Length, close-delimited, or no body at all).
struct BodyFramingWriter {
    private var chunked = false

    /// Body bytes go out as chunks.
    var chunkEncodes: Bool { chunked }

    /// Call before a body whose framing was decided elsewhere (bytes already framed pass as they are).
    mutating func start(chunkEncode: Bool) {
        chunked = chunkEncode
    }

    /// Returns the framing bytes written around the body (chunk size line and CRLF), for `$bytes_sent`.
    @discardableResult
    func writeBody(_ body: ByteBuffer, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) -> Int {
        guard chunked, body.readableBytes > 0 else {
            // A zero-length chunk would end a chunked body early: it goes out as nothing.
            context.write(NIOAny(body), promise: promise)
            return 0
        }
        var prefix = context.channel.allocator.buffer(capacity: 12)
        HTTPWire.writeChunkPrefix(length: body.readableBytes, into: &prefix)
        let overhead = prefix.readableBytes + 2
        context.write(NIOAny(prefix), promise: nil)
        context.write(NIOAny(body), promise: nil)
        context.write(NIOAny(context.channel.allocator.crlf), promise: promise)
        return overhead
    }

    /// The bytes `writeEnd` will write (the last chunk when chunked).
    var endBytes: Int { chunked ? 5 : 0 }

    mutating func writeEnd(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard chunked else {
            if let promise {
                // Nothing to write, but the caller waits on the bytes before it: chain onto an empty write.
                context.write(NIOAny(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            }
            return
        }
        chunked = false
        var last = context.channel.allocator.buffer(capacity: 5)
        HTTPWire.writeLastChunk(into: &last)
        context.write(NIOAny(last), promise: promise)
    }
}
