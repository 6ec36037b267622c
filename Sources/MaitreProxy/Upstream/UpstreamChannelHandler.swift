#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreWire
import NIOCore
import NIOHTTP1

/// The only handler of an upstream channel. It writes the request through an `UpstreamRequestWriter` (the
/// serialised head, the body in the framing the head announced), parses the response from raw bytes with
/// MaitreWire's strict parser, and hands the request that leased the connection a head that points into the
/// received bytes and body bytes as they come (chunked bodies pass through unchanged when the client takes
/// chunked). It holds reads while the client cannot take more (back-pressure) and runs `proxy_read_timeout`
/// (time between two successive reads) and `proxy_send_timeout` (time a write may stay stuck).
final class UpstreamChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Where the current response is on the wire.
    private enum ResponseState {
        case idle
        case head(accumulated: ByteBuffer?)
        case length(remaining: Int64)
        case chunked(ChunkedScanner, passthrough: Bool)
        case untilClose
    }

    private var responseState = ResponseState.idle
    private var parsedHead = ResponseHead()
    private var requestIsHead = false
    private var clientTakesChunked = true
    private var headLimit = 4096
    private var request = UpstreamRequestWriter()

    let connection: UpstreamConnection
    private var context: ChannelHandlerContext?
    private var readsPaused = false
    private var readPending = false

    private var readTimeout: TimeAmount?
    private var sendTimeout: TimeAmount?
    private var lastRead = NIODeadline.uptimeNanoseconds(0)
    private var readTimer: Scheduled<Void>?
    private var readTimerFiresAt: NIODeadline?
    private var sendTimer: Scheduled<Void>?

    init(connection: UpstreamConnection) {
        self.connection = connection
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        cancelTimers()
        // Ends the connection ↔ handler cycle (the connection holds its handler strongly).
        if connection.handler === self { connection.handler = nil }
    }

    // MARK: - Called by the request using this connection

    func leased() {
        readsPaused = false
    }

    /// Prepares for the response to a request about to be sent: HEAD responses have no body; `clientTakesChunked`
    /// lets chunked bodies pass through unchanged; `headLimit` is `proxy_buffer_size`.
    func expectResponse(toHead: Bool, clientTakesChunked: Bool, headLimit: Int) {
        requestIsHead = toHead
        self.clientTakesChunked = clientTakesChunked
        self.headLimit = headLimit
        responseState = .head(accumulated: nil)
    }

    // The request's head, body, end and flush: `UpstreamRequestWriter`'s, through this channel (0 bytes once the
    // handler is gone).
    @discardableResult
    func sendHead(_ head: UpstreamRequest, flush: Bool = false) -> Int {
        guard let context else { return 0 }
        return request.writeHead(head, flush: flush, context: context)
    }

    @discardableResult
    func sendBody(_ body: ByteBuffer) -> Int {
        guard let context else { return 0 }
        return request.writeBody(body, context: context)
    }

    @discardableResult
    func sendEnd() -> Int {
        guard let context else { return 0 }
        return request.writeEnd(context: context)
    }

    func flush() {
        guard let context else { return }
        request.flush(context: context)
    }

    func becameIdle() {
        sendTimer?.cancel()
        sendTimer = nil
        readTimeout = nil
        sendTimeout = nil
        readsPaused = false
        responseState = .idle
        // An idle connection keeps reading so that a close or stray bytes from the upstream are seen at once.
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    /// Starts `proxy_read_timeout`/`proxy_send_timeout` for the exchange that begins now. The read timer task is
    /// kept scheduled across exchanges on this connection and re-armed lazily, so a busy pooled connection
    /// schedules nothing per request.
    func startExchangeTimers(read: TimeAmount, send: TimeAmount) {
        readTimeout = read
        sendTimeout = send
        lastRead = connection.channel.eventLoop.now
        if readTimer == nil || readTimerFiresAt.map({ $0 > lastRead + read }) ?? true {
            armReadTimer(after: read)
        }
    }

    func pauseReads() {
        readsPaused = true
    }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        if readPending, let context {
            readPending = false
            context.read()
        }
    }

    // MARK: - Channel events

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastRead = context.eventLoop.now
        var bytes = self.unwrapInboundIn(data)
        guard let receiver = connection.receiver else {
            // Bytes from an idle upstream connection: it cannot be reused safely.
            connection.close()
            return
        }
        while bytes.readableBytes > 0 {
            switch responseState {
            case .idle:
                // More than the response: the connection's framing is broken; it must not be reused.
                fail(.invalidHeader("upstream sent more data than specified in response"))
                return
            case .head(let accumulated):
                var input = bytes
                if var earlier = accumulated {
                    earlier.writeBuffer(&input)
                    input = earlier
                }
                let result = input.withUnsafeReadableBytes { raw in
                    ResponseHeadParser.parse(raw, into: &parsedHead, maxLength: headLimit)
                }
                switch result {
                case .incomplete:
                    responseState = .head(accumulated: input)
                    return
                case .invalid(let reason):
                    fail(.invalidHeader(reason + " while reading response header from upstream"))
                    return
                case .complete:
                    let headBytes = input.readSlice(length: parsedHead.length)!
                    bytes = input
                    if parsedHead.status < 200 && parsedHead.status != 101 {
                        // Interim responses (100 Continue, 103) are not passed on.
                        responseState = .head(accumulated: nil)
                        continue
                    }
                    guard let delivery = startBody() else {
                        fail(.invalidHeader("upstream sent unknown \"Transfer-Encoding\" while reading response header from upstream"))
                        return
                    }
                    receiver.upstreamResponseHead(
                        UpstreamResponseHead(parsed: parsedHead, bytes: headBytes, bodyDelivery: delivery))
                    // The receiver may have refused this response (proxy_next_upstream retries elsewhere, or the
                    // head could not be rewritten) and closed this connection: nothing more of it may reach it.
                    guard isLeased(to: receiver) else { return }
                    if case .none = delivery {
                        finishResponse(receiver, trailing: bytes.readableBytes)
                        return
                    }
                    if case .length(0) = delivery {
                        finishResponse(receiver, trailing: bytes.readableBytes)
                        return
                    }
                }
            case .length(let remaining):
                let take = Int(min(remaining, Int64(bytes.readableBytes)))
                receiver.upstreamResponseBody(bytes.readSlice(length: take)!)
                guard isLeased(to: receiver) else { return }
                if remaining == Int64(take) {
                    finishResponse(receiver, trailing: bytes.readableBytes)
                    return
                }
                responseState = .length(remaining: remaining - Int64(take))
            case .chunked(var scanner, let passthrough):
                let base = bytes.readerIndex
                var consumed = 0
                do {
                    if passthrough {
                        consumed = try bytes.withUnsafeReadableBytes { raw in try scanner.scan(raw) { _ in } }
                        receiver.upstreamResponseBody(bytes.readSlice(length: consumed)!)
                        guard isLeased(to: receiver) else { return }
                    } else {
                        var pieces: [Range<Int>] = []
                        consumed = try bytes.withUnsafeReadableBytes { raw in try scanner.scan(raw) { pieces.append($0) } }
                        for piece in pieces {
                            receiver.upstreamResponseBody(bytes.getSlice(at: base + piece.lowerBound, length: piece.count)!)
                            guard isLeased(to: receiver) else { return }
                        }
                        bytes.moveReaderIndex(forwardBy: consumed)
                    }
                } catch {
                    fail(.invalidHeader("upstream sent invalid chunked response while reading upstream"))
                    return
                }
                if scanner.isComplete {
                    finishResponse(receiver, trailing: bytes.readableBytes)
                    return
                }
                responseState = .chunked(scanner, passthrough: passthrough)
            case .untilClose:
                receiver.upstreamResponseBody(bytes)
                return
            }
        }
    }

    /// Chooses how the body that follows the parsed head is read and delivered; nil for a framing maitred
    /// does not forward (a transfer coding other than chunked).
    private func startBody() -> UpstreamBodyDelivery? {
        let status = parsedHead.status
        if requestIsHead || status == 204 || status == 304 {
            responseState = .idle
            return UpstreamBodyDelivery.none
        }
        if parsedHead.hasTransferEncoding {
            guard parsedHead.isChunked else { return nil }
            responseState = .chunked(ChunkedScanner(), passthrough: clientTakesChunked)
            return clientTakesChunked ? .chunkedPassthrough : .chunkedDecoded
        }
        if let length = parsedHead.contentLength {
            responseState = .length(remaining: length)
            return .length(length)
        }
        responseState = .untilClose
        return .untilClose
    }

    /// The connection still serves `receiver`: false once the receiver closed it or gave it up from a callback.
    private func isLeased(to receiver: any UpstreamResponseReceiver) -> Bool {
        connection.receiver.map { $0 === receiver } ?? false
    }

    private func finishResponse(_ receiver: any UpstreamResponseReceiver, trailing: Int) {
        responseState = .idle
        readTimeout = nil
        sendTimer?.cancel()
        sendTimer = nil
        if trailing > 0 {
            // Bytes beyond the response: answer this one, but never reuse the connection. It is marked before the
            // receiver hears of the end, so the release that follows closes it instead of pooling it (a request
            // pipelined behind could otherwise lease it and then lose it under its feet).
            connection.forbidReuse()
            receiver.upstreamResponseEnd()
            connection.close()
            return
        }
        receiver.upstreamResponseEnd()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        connection.receiver?.upstreamReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        let writable = context.channel.isWritable
        if writable {
            sendTimer?.cancel()
            sendTimer = nil
        } else if let sendTimeout, sendTimer == nil {
            sendTimer = context.eventLoop.assumeIsolated().scheduleTask(in: sendTimeout) { [self] in
                sendTimer = nil
                fail(.timeout("upstream timed out (110: Connection timed out) while sending request to upstream"))
            }
        }
        connection.receiver?.upstreamWritabilityChanged(isWritable: writable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimers()
        if case .untilClose = responseState, let receiver = connection.receiver {
            // The close is how this response ends.
            responseState = .idle
            connection.closedAfterResponse()
            receiver.upstreamResponseEnd()
            return
        }
        connection.channelClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: UpstreamFailure
        if let io = error as? IOError {
            failure = .error("recv() failed (\(io.errnoCode): \(io.localizedErrnoDescription)) while reading upstream")
        } else {
            failure = .error("upstream error: \(error)")
        }
        fail(failure)
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: - Timers

    private func armReadTimer(after delay: TimeAmount) {
        guard let context else { return }
        readTimer?.cancel()
        readTimerFiresAt = context.eventLoop.now + delay
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            readTimer = nil
            readTimerFiresAt = nil
            readTimerFired()
        }
    }

    private func readTimerFired() {
        guard let readTimeout, connection.receiver != nil else { return }
        let deadline = lastRead + readTimeout
        let now = connection.channel.eventLoop.now
        if deadline > now {
            // Reads happened since the timer was armed: wait for the rest of the interval.
            armReadTimer(after: deadline - now)
        } else {
            // nginx names what it was doing: waiting for the head, or reading the body.
            if case .head = responseState {
                fail(.timeout("upstream timed out (110: Connection timed out) while reading response header from upstream"))
            } else {
                fail(.timeout("upstream timed out (110: Connection timed out) while reading upstream"))
            }
        }
    }

    private func cancelTimers() {
        readTimer?.cancel()
        readTimer = nil
        sendTimer?.cancel()
        sendTimer = nil
    }

    private func fail(_ failure: UpstreamFailure) {
        cancelTimers()
        let receiver = connection.receiver
        connection.close()
        receiver?.upstreamFailed(failure)
    }
}

@available(*, unavailable)
extension UpstreamChannelHandler: Sendable {}
