import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOPosix

/// One TCP session of a `stream` server: the shell that runs `StreamSessionState`'s actions. It selects a server
/// on the loop's balancer, connects (the next server on a failed connect), then copies bytes both ways: each
/// side is read only while the other can take more (`proxy_buffer_size` bounds what waits for a connect, the
/// channels' write-buffer marks what waits for a slow reader), and `proxy_timeout` ends a session with no
/// traffic. Its end goes to the access log as a `StreamSessionEnd`. Only ever touched on its event loop.
final class StreamSession {
    private let loop: LoopContext
    private let runtime: LoopRuntime
    private let route: StreamRoute
    private let settings: StreamProxySettings
    private let endpoint: ListenEndpoint
    private var addresses: ConnectionAddresses
    /// A `listen … proxy_protocol` session starts once the header was read.
    private var awaitingProxyHeader: Bool
    private let connectionNumber: UInt64
    private var state: StreamSessionState
    private var client: (any Channel)?
    private var upstream: (any Channel)?
    /// Each side's handler: relayed bytes are written through its context (not from the pipeline's tail).
    var clientHandler: StreamRelayHandler?
    private var upstreamHandler: StreamRelayHandler?
    private var choice: StreamUpstreamChoice?
    private let startedAt: Int64
    /// What the client sent before the upstream was connected.
    private var early: [ByteBuffer] = []
    private var earlyBytes = 0
    private var bytesReceived = 0
    private var bytesSent = 0
    private var lastActivity: Int64
    private var idleTimer: Scheduled<Void>?
    /// A side's read waits until the other side can take more.
    private var clientReadHeld = false
    private var upstreamReadHeld = false

    init(
        client: any Channel, route: StreamRoute, endpoint: ListenEndpoint, loop: LoopContext, connectionNumber: UInt64,
        awaitingProxyHeader: Bool = false
    ) {
        self.awaitingProxyHeader = awaitingProxyHeader
        self.loop = loop
        self.runtime = loop.runtime
        self.route = route
        self.settings = route.server.settings
        self.endpoint = endpoint
        self.client = client
        self.addresses = ConnectionAddresses(remote: client.remoteAddress, local: client.localAddress)
        self.connectionNumber = connectionNumber
        self.state = StreamSessionState(halfClose: route.server.settings.halfClose)
        self.startedAt = Self.now(loop)
        self.lastActivity = startedAt
        LiveObjects.created(.streamSession)
    }

    deinit {
        LiveObjects.destroyed(.streamSession)
    }

    private static func now(_ loop: LoopContext) -> Int64 { Int64(loop.eventLoop.now.uptimeNanoseconds) }
    private var now: Int64 { Self.now(loop) }

    // MARK: events from the handlers

    func clientActive() {
        guard !awaitingProxyHeader else { return }
        if !settings.accessRules.isEmpty, !AccessRule.allows(addresses.remoteBytes, by: settings.accessRules) {
            loop.log.log(.error, "access forbidden by rule, client: \(addresses.remoteIP), server: \(endpoint)",
                         connection: connectionNumber)
            run(state.forbidden())
            return
        }
        if let text = route.server.returnText { return returnText(text) }
        run(state.start(hasUpstream: route.upstream != nil))
    }

    /// The PROXY protocol header arrived: `$proxy_protocol_*`, the client's address when `set_real_ip_from`
    /// trusts the peer, and the session starts.
    func proxyProtocolRead(_ header: ProxyProtocolHeader.Addresses?) {
        guard awaitingProxyHeader else { return }
        addresses = addresses.readingProxyProtocol(header, trusted: settings.realIPFrom)
        awaitingProxyHeader = false
        clientActive()
    }

    /// No valid header: nginx logs it and ends the session with 400.
    func proxyProtocolFailed(_ message: String) {
        loop.log.log(.error, message + ", client: \(addresses.remoteIP), server: \(endpoint)", connection: connectionNumber)
        run(state.badHeader())
    }

    func read(_ buffer: ByteBuffer, from side: StreamSessionState.Side) {
        lastActivity = now
        switch side {
        case .client:
            bytesReceived += buffer.readableBytes
            switch state.phase {
            case .connecting:
                earlyBytes += buffer.readableBytes
                early.append(buffer)
            case .relaying:
                choice?.sent(buffer.readableBytes)
                upstreamHandler?.send(buffer)
            case .finished:
                break
            }
        case .upstream:
            guard state.phase == .relaying else { return }
            choice?.received(buffer.readableBytes, at: lastActivity, runtime: runtime)
            bytesSent += buffer.readableBytes
            clientHandler?.send(buffer)
        }
    }

    func readComplete(from side: StreamSessionState.Side) {
        guard state.phase == .relaying else { return }
        switch side {
        case .client: upstreamHandler?.flushSide()
        case .upstream: clientHandler?.flushSide()
        }
    }

    /// A side's channel asks for more input: granted while the other side can take it.
    func mayRead(_ side: StreamSessionState.Side) -> Bool {
        let allowed: Bool
        switch (side, state.phase) {
        case (.client, .connecting): allowed = earlyBytes < settings.bufferSize
        case (.client, .relaying): allowed = upstream?.isWritable ?? false
        case (.upstream, .relaying): allowed = client?.isWritable ?? false
        default: allowed = false
        }
        if !allowed {
            switch side {
            case .client: clientReadHeld = true
            case .upstream: upstreamReadHeld = true
            }
        }
        return allowed
    }

    /// `side` can take more: the other side's held read goes on.
    func becameWritable(_ side: StreamSessionState.Side) {
        guard state.phase == .relaying else { return }
        switch side {
        case .client where upstreamReadHeld:
            upstreamReadHeld = false
            upstream?.read()
        case .upstream where clientReadHeld:
            clientReadHeld = false
            client?.read()
        default:
            break
        }
    }

    func inputEnded(from side: StreamSessionState.Side) {
        run(state.inputEnded(from: side))
    }

    /// A side's connection closed (EOF without half-closure, a reset, or our own close).
    func closed(_ side: StreamSessionState.Side) {
        guard !state.isFinished else { return }
        switch side {
        case .client:
            client = nil
            clientHandler = nil
        case .upstream:
            upstream = nil
            upstreamHandler = nil
        }
        run(state.inputEnded(from: side))
    }

    /// `return VALUE`: the text (variables as at the session's start), then the end.
    private func returnText(_ template: VariableTemplate) {
        let text = StreamLogLine.evaluate(template, addresses: addresses, udp: false, startedAt: startedAt, now: now,
                                          connectionNumber: connectionNumber)
        guard !text.isEmpty, let client else { return run(state.returned()) }
        bytesSent += text.count
        let promise = loop.eventLoop.makePromise(of: Void.self)
        client.writeAndFlush(ByteBuffer(bytes: text), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { _ in self.run(self.state.returned()) }
    }

    // MARK: actions

    private func run(_ actions: [StreamSessionState.Action]) {
        for action in actions {
            switch action {
            case .connect: connectNext()
            case .startRelay: startRelay()
            case .drain(let side): drain(toward: side)
            case .shutDownOutput(let side): channel(side)?.close(mode: .output, promise: nil)
            case .finish(let status): finish(status: status)
            }
        }
    }

    private func channel(_ side: StreamSessionState.Side) -> (any Channel)? {
        side == .client ? client : upstream
    }

    private func connectNext() {
        guard let index = route.upstream else { return run(state.failed()) }
        var choice = self.choice ?? StreamUpstreamChoice(upstreamIndex: index)
        let next = choice.next(
            runtime: runtime, addresses: addresses, protocolName: "TCP", tries: settings.nextUpstreamTries, now: now)
        self.choice = choice
        guard let (chosen, address) = next else {
            loop.log.log(.error, "no live upstreams while connecting to upstream" + describe(), connection: connectionNumber)
            return run(state.noServer())
        }
        guard loop.admitConnection() else { return run(state.failed()) }
        let boundLoop = NIOLoopBound(loop, eventLoop: loop.eventLoop)
        let bufferSize = settings.bufferSize
        ClientBootstrap(group: loop.eventLoop)
            .connectTimeout(.milliseconds(settings.connectTimeout.milliseconds))
            .channelOption(.allowRemoteHalfClosure, value: settings.halfClose)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let loop = boundLoop.value
                    loop.upstreamConnectionOpened()
                    channel.closeFuture.assumeIsolated().whenComplete { _ in loop.upstreamConnectionClosed() }
                    try channel.syncOptions?.setOption(
                        .writeBufferWaterMark, value: .init(low: bufferSize / 2, high: max(bufferSize, 1)))
                }
            }
            .connect(to: address)
            .assumeIsolated()
            .whenComplete { result in self.connectCompleted(result, peer: chosen) }
    }

    private func connectCompleted(_ result: Result<any Channel, any Error>, peer chosen: PeerID) {
        let now = self.now
        switch result {
        case .success(let channel):
            guard !state.isFinished, choice?.peer == chosen else {
                channel.close(promise: nil)
                return
            }
            choice?.connected(at: now, runtime: runtime)
            do {
                let handler = StreamRelayHandler(session: self, side: .upstream)
                try channel.pipeline.syncOperations.addHandler(handler)
                upstreamHandler = handler
            } catch {
                channel.close(promise: nil)
                return run(state.failed())
            }
            upstream = channel
            run(state.connected())
        case .failure(let error):
            guard !state.isFinished, var choice, choice.peer == chosen else { return }
            choice.endLast(at: now)
            loop.log.log(.error, UpstreamFailure(connectError: error).message + describe(), connection: connectionNumber)
            choice.release(runtime: runtime, outcome: .failure, now: now)
            self.choice = choice
            run(state.connectFailed(choice.retryInputs(settings, now: now)))
        }
    }

    private func startRelay() {
        guard let upstream else { return }
        var early = earlyBytes
        if settings.proxyProtocol != .off {
            // nginx's proxy_protocol: the header describing the client goes before its first byte.
            let endpoints = addresses.proxyProtocolEndpoints
            let header = settings.proxyProtocol == .v2
                ? ProxyProtocolWriter.v2(source: endpoints?.source, destination: endpoints?.destination)
                : ProxyProtocolWriter.v1(source: endpoints?.source, destination: endpoints?.destination)
            upstream.write(ByteBuffer(bytes: header), promise: nil)
            early += header.count
        }
        choice?.sent(early)
        for buffer in self.early { upstream.write(buffer, promise: nil) }
        upstream.flush()
        self.early = []
        earlyBytes = 0
        lastActivity = now
        scheduleIdleCheck(after: settings.timeout.nanoseconds)
        if clientReadHeld, upstream.isWritable {
            clientReadHeld = false
            client?.read()
        }
    }

    /// Writes an empty buffer behind everything pending toward `side`: once it completes, every byte before it
    /// was written.
    private func drain(toward side: StreamSessionState.Side) {
        guard let channel = channel(side) else { return run(state.writeFailed()) }
        let promise = loop.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(ByteBuffer(), promise: promise)
        promise.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success: self.run(self.state.drained(toward: side))
            case .failure: self.run(self.state.writeFailed())
            }
        }
    }

    /// `proxy_timeout`: checked when it could have run out, from the last read (one timer per session, not per
    /// read).
    private func scheduleIdleCheck(after nanoseconds: Int64) {
        idleTimer = loop.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(nanoseconds, 1_000_000))) {
            [weak self] in
            guard let self, !self.state.isFinished else { return }
            let idle = self.now - self.lastActivity
            let limit = self.settings.timeout.nanoseconds
            if idle >= limit {
                self.loop.log.log(
                    .info, "connection timed out (110: Connection timed out) while proxying connection"
                        + self.describe(), connection: self.connectionNumber)
                self.run(self.state.timedOut())
            } else {
                self.scheduleIdleCheck(after: limit - idle)
            }
        }
    }

    private func finish(status: Int) {
        idleTimer?.cancel()
        idleTimer = nil
        let ended = now
        choice?.release(runtime: runtime, outcome: .success, now: ended)
        choice?.endLast(at: ended)
        // Closing drops the channels' handlers, which hold this session: nothing is left to keep it.
        client?.close(promise: nil)
        upstream?.close(promise: nil)
        client = nil
        upstream = nil
        clientHandler = nil
        upstreamHandler = nil
        early = []
        if !settings.accessLogs.isEmpty {
            loop.accessLogger.sessionEnded(
                StreamSessionEnd(
                    addresses: addresses, isUDP: false, status: status, bytesReceived: bytesReceived,
                    bytesSent: bytesSent, startedAt: startedAt, endedAt: ended, attempts: choice?.attempts ?? [],
                    connectionNumber: connectionNumber, accessLogs: settings.accessLogs))
        }
    }

    /// nginx's stream error-log context.
    private func describe() -> String {
        (choice ?? StreamUpstreamChoice(upstreamIndex: -1)).logContext(
            udp: false, addresses: addresses, server: endpoint, fromClient: bytesReceived, toClient: bytesSent)
    }
}

@available(*, unavailable)
extension StreamSession: Sendable {}
