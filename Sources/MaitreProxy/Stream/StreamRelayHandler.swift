import NIOCore

/// One side of a stream session: hands the channel's events to the `StreamSession` and holds the channel's reads
/// while the session says the other side cannot take more. Both the client's and the upstream's channel carry one.
final class StreamRelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var session: StreamSession?
    private let side: StreamSessionState.Side
    /// While in the pipeline: the other side writes through it, skipping the pipeline's tail (held only until
    /// the handler is removed, so the context does not keep the pipeline alive).
    private(set) var context: ChannelHandlerContext?

    init(session: StreamSession, side: StreamSessionState.Side) {
        self.session = session
        self.side = side
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// Writes toward this side's socket, from the other side's reads.
    func send(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    func flushSide() {
        context?.flush()
    }

    func channelActive(context: ChannelHandlerContext) {
        if side == .client { session?.clientActive() }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.read(unwrapInboundIn(data), from: side)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.readComplete(from: side)
    }

    func read(context: ChannelHandlerContext) {
        if session?.mayRead(side) ?? false { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { session?.becameWritable(side) }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            session?.inputEnded(from: side)
            return
        }
        // A graceful stop or a reload's quiesce: a stream session runs until it ends, as in nginx's old workers.
        if event is ChannelShouldQuiesceEvent { return }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A read error closes the channel; its close ends this side (nginx treats it as EOF).
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        session?.closed(side)
        session = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session = nil
        self.context = nil
    }
}

@available(*, unavailable)
extension StreamRelayHandler: Sendable {}
