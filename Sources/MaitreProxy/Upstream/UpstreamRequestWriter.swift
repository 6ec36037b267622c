import NIOCore

/// The request side of an upstream connection: the serialised head, the body in the framing the head
/// announced, and whether anything written still waits for a flush (a flush through the pipeline costs about
/// 2,000 instructions even when there is nothing to send). Writes go through the connection handler's context.
struct UpstreamRequestWriter {
    private var framing = BodyFramingWriter()
    private var unflushed = false

    /// Writes a head, flushed at once when `flush` (a request with nothing behind its head: one trip down the
    /// pipeline instead of a write and a flush). Returns the bytes written.
    mutating func writeHead(_ request: UpstreamRequest, flush: Bool, context: ChannelHandlerContext) -> Int {
        framing.start(chunkEncode: request.framing == .chunked)
        if flush {
            context.writeAndFlush(NIOAny(request.head), promise: nil)
        } else {
            context.write(NIOAny(request.head), promise: nil)
            unflushed = true
        }
        return request.head.readableBytes
    }

    /// Writes body bytes in the head's framing (not flushed). Returns the bytes written (body and framing).
    mutating func writeBody(_ body: ByteBuffer, context: ChannelHandlerContext) -> Int {
        let overhead = framing.writeBody(body, context: context, promise: nil)
        unflushed = true
        return body.readableBytes + overhead
    }

    /// Ends the body (the last chunk when chunked; nothing otherwise). Returns the bytes written.
    mutating func writeEnd(context: ChannelHandlerContext) -> Int {
        let count = framing.endBytes
        framing.writeEnd(context: context, promise: nil)
        unflushed = true
        return count
    }

    /// Flushes what was written since the last flush; nothing when nothing was.
    mutating func flush(context: ChannelHandlerContext) {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }
}
