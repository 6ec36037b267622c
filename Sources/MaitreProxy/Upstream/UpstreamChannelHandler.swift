#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1

/// The last handler of an upstream channel: passes response parts to the request that leased the connection,
/// holds reads while the client cannot take more (back-pressure), and runs `proxy_read_timeout` (time between
/// two successive reads) and `proxy_send_timeout` (time a write may stay stuck).
final class UpstreamChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    let connection: UpstreamConnection
    private var context: ChannelHandlerContext?
    private var readsPaused = false
    private var readPending = false

    private var readTimeout: TimeAmount?
    private var sendTimeout: TimeAmount?
    private var lastRead = NIODeadline.now()
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
    }

    // MARK: - Called by the request using this connection

    func leased() {
        readsPaused = false
    }

    func becameIdle() {
        sendTimer?.cancel()
        sendTimer = nil
        readTimeout = nil
        sendTimeout = nil
        readsPaused = false
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
        lastRead = .now()
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
        lastRead = .now()
        let part = Self.unwrapInboundIn(data)
        guard let receiver = connection.receiver else {
            // Bytes from an idle upstream connection: it cannot be reused safely.
            connection.close()
            return
        }
        switch part {
        case .head(let head):
            receiver.upstreamResponseHead(head)
        case .body(let body):
            receiver.upstreamResponseBody(body)
        case .end:
            // The exchange is over: the read timer, if it fires, finds no timeout to enforce and lapses.
            readTimeout = nil
            sendTimer?.cancel()
            sendTimer = nil
            receiver.upstreamResponseEnd()
        }
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
        connection.channelClosed()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: UpstreamFailure
        if error is HTTPParserError {
            failure = .invalidHeader("upstream sent invalid header while reading response header from upstream")
        } else if let io = error as? IOError {
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
        readTimerFiresAt = .now() + delay
        readTimer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [self] in
            readTimer = nil
            readTimerFiresAt = nil
            readTimerFired()
        }
    }

    private func readTimerFired() {
        guard let readTimeout, connection.receiver != nil else { return }
        let deadline = lastRead + readTimeout
        let now = NIODeadline.now()
        if deadline > now {
            // Reads happened since the timer was armed: wait for the rest of the interval.
            armReadTimer(after: deadline - now)
        } else {
            fail(.timeout("upstream timed out (110: Connection timed out) while reading upstream"))
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

extension IOError {
    var localizedErrnoDescription: String {
        String(cString: strerror(errnoCode))
    }
}
