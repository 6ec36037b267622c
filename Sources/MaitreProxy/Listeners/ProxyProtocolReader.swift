import MaitreWire
import NIOCore

/// The first handler of a `listen … proxy_protocol` connection: gathers the PROXY protocol header (v1 or v2),
/// hands what it says to the connection's handler, passes any bytes after it on, and leaves the pipeline. A
/// connection whose first bytes are not a header is logged as nginx logs it ("broken header: …") and closed;
/// one that sends no complete header within `timeout` is closed.
final class ProxyProtocolReader: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private var gathered: ByteBuffer?
    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private let onHeader: (ProxyProtocolHeader.Addresses?) -> Void
    private let onFailure: (String) -> Void
    private var done = false

    /// `onHeader` runs before the bytes that follow the header are passed on; `onFailure` with nginx's message
    /// (`broken header: "…"`, or "client timed out") before the connection closes.
    init(
        timeout: TimeAmount, onHeader: @escaping (ProxyProtocolHeader.Addresses?) -> Void,
        onFailure: @escaping (String) -> Void
    ) {
        self.timeout = timeout
        self.onHeader = onHeader
        self.onFailure = onFailure
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
            let (reader, context) = loopBound.value
            reader.fail("client timed out", context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var incoming = unwrapInboundIn(data)
        if gathered == nil {
            gathered = incoming
        } else {
            gathered?.writeBuffer(&incoming)
        }
        guard var buffer = gathered else { return }
        let verdict = buffer.withUnsafeReadableBytes { ProxyProtocolHeader.read($0) }
        switch verdict {
        case .needMore:
            if buffer.readableBytes >= ProxyProtocolHeader.maxLength { fail("header is too large", context: context) }
        case .invalid(let message):
            fail(message, context: context)
        case .header(let addresses, let length):
            done = true
            gathered = nil
            timer?.cancel()
            timer = nil
            buffer.moveReaderIndex(forwardBy: length)
            onHeader(addresses)
            if buffer.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(buffer)) }
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func fail(_ message: String, context: ChannelHandlerContext) {
        guard !done else { return }
        done = true
        gathered = nil
        onFailure(message)
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension ProxyProtocolReader: Sendable {}
