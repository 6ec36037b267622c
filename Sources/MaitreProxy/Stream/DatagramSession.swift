import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOPosix

/// One client's UDP session on a `listen … udp` server: the shell that runs `DatagramSessionState`'s actions. It
/// owns one connected socket to the chosen server; answers go back through the listening socket to the client's
/// address. The first datagram is kept so that the next server gets it when the first one refuses (nginx resends
/// its session buffer). Only ever touched on its event loop.
final class DatagramSession {
    private let listener: DatagramListenerHandler
    private let loop: LoopContext
    private let runtime: LoopRuntime
    private let route: StreamRoute
    private let settings: StreamProxySettings
    let client: SocketAddress
    private let addresses: ConnectionAddresses
    private let connectionNumber: UInt64
    private var state: DatagramSessionState
    private var upstream: (any Channel)?
    private var choice: StreamUpstreamChoice?
    private let startedAt: Int64
    private var firstDatagram: ByteBuffer?
    private var queued: [ByteBuffer] = []
    private var queuedBytes = 0
    private var bytesReceived = 0
    private var bytesSent = 0
    private var lastActivity: Int64
    private var idleTimer: Scheduled<Void>?
    /// `proxy_protocol on|v2`: the next datagram to the server carries the header.
    private var headerPending = false

    init(
        client: SocketAddress, local: SocketAddress?, route: StreamRoute, listener: DatagramListenerHandler,
        loop: LoopContext, connectionNumber: UInt64
    ) {
        self.listener = listener
        self.loop = loop
        self.runtime = loop.runtime
        self.route = route
        self.settings = route.server.settings
        self.client = client
        self.addresses = ConnectionAddresses(remote: client, local: local)
        self.connectionNumber = connectionNumber
        self.state = DatagramSessionState(
            expectedResponses: route.server.settings.responses, requestLimit: route.server.settings.requests)
        self.startedAt = Int64(loop.eventLoop.now.uptimeNanoseconds)
        self.lastActivity = startedAt
        LiveObjects.created(.streamSession)
    }

    deinit {
        LiveObjects.destroyed(.streamSession)
    }

    private var now: Int64 { Int64(loop.eventLoop.now.uptimeNanoseconds) }
    var isFinished: Bool { state.isFinished }

    /// The client's first datagram opens the session.
    func start(first: ByteBuffer) {
        if !settings.accessRules.isEmpty, !AccessRule.allows(addresses.remoteBytes, by: settings.accessRules) {
            loop.log.log(.error, "access forbidden by rule, udp client: \(addresses.remoteIP), server: \(listener.endpoint)",
                         connection: connectionNumber)
            return run(state.forbidden())
        }
        if let template = route.server.returnText {
            // `return VALUE`: one datagram back, and the session is over.
            let text = StreamLogLine.evaluate(
                template, addresses: addresses, udp: true, startedAt: startedAt, now: now,
                connectionNumber: connectionNumber)
            bytesReceived += first.readableBytes
            if !text.isEmpty {
                bytesSent += text.count
                listener.reply(ByteBuffer(bytes: text), to: client)
            }
            return run(state.returned())
        }
        scheduleIdleCheck(after: settings.timeout.nanoseconds)
        run(state.start(hasUpstream: route.upstream != nil))
        clientDatagram(first)
    }

    func clientDatagram(_ data: ByteBuffer) {
        guard !state.isFinished else { return }
        lastActivity = now
        bytesReceived += data.readableBytes
        if firstDatagram == nil { firstDatagram = data }
        let actions = state.clientDatagram()
        for action in actions {
            switch action {
            case .queue:
                // What waits for the socket is bounded by proxy_buffer_size; past it datagrams are dropped, as a
                // full socket buffer drops them.
                if queuedBytes + data.readableBytes <= max(settings.bufferSize, data.readableBytes) || queued.isEmpty {
                    queued.append(data)
                    queuedBytes += data.readableBytes
                }
            case .forwardToUpstream:
                send(data)
            default:
                run([action])
            }
        }
    }

    func upstreamDatagram(_ data: ByteBuffer) {
        guard !state.isFinished else { return }
        let now = self.now
        lastActivity = now
        choice?.received(data.readableBytes, at: now, runtime: runtime)
        bytesSent += data.readableBytes
        let actions = state.upstreamDatagram()
        for action in actions {
            if action == .forwardToClient {
                listener.reply(data, to: client)
            } else {
                run([action])
            }
        }
    }

    func upstreamFailed(_ error: any Error, channel: any Channel) {
        guard !state.isFinished, channel === upstream else { return }
        if state.responses == 0 {
            let words = (error as? IOError).map { "\($0.errnoCode): \($0.localizedErrnoDescription)" } ?? "\(error)"
            loop.log.log(.error, "recv() failed (\(words)) while proxying connection" + describe(),
                         connection: connectionNumber)
            choice?.endLast(at: now)
            upstream?.close(promise: nil)
            upstream = nil
            choice?.release(runtime: runtime, outcome: .failure, now: now)
            // The first datagram goes to the next server, as nginx resends the session's buffer.
            queued = firstDatagram.map { [$0] } ?? []
            queuedBytes = queued.first?.readableBytes ?? 0
        }
        guard let choice else { return }
        run(state.upstreamFailed(retry: choice.retryInputs(settings, now: now)))
    }

    func listenerClosed() {
        run(state.listenerClosed())
    }

    // MARK: actions

    private func run(_ actions: [DatagramSessionState.Action]) {
        for action in actions {
            switch action {
            case .connect: connectNext()
            case .sendQueued:
                for datagram in queued { send(datagram) }
                queued = []
                queuedBytes = 0
            case .unbind: listener.unbind(self)
            case .finish(let status): finish(status: status)
            case .queue, .forwardToUpstream, .forwardToClient: break  // handled where the datagram is at hand
            }
        }
    }

    private func send(_ data: ByteBuffer) {
        guard let upstream else { return }
        var datagram = data
        if headerPending {
            // nginx's proxy_protocol over UDP: the header opens the first datagram to each server (v2 says DGRAM).
            headerPending = false
            let endpoints = addresses.proxyProtocolEndpoints
            let header = settings.proxyProtocol == .v2
                ? ProxyProtocolWriter.v2(source: endpoints?.source, destination: endpoints?.destination, datagram: true)
                : ProxyProtocolWriter.v1(source: endpoints?.source, destination: endpoints?.destination)
            var joined = ByteBuffer(bytes: header)
            var body = data
            joined.writeBuffer(&body)
            datagram = joined
        }
        choice?.sent(datagram.readableBytes)
        upstream.writeAndFlush(datagram, promise: nil)
    }

    private func connectNext() {
        guard let index = route.upstream else { return finish(status: 500) }
        var choice = self.choice ?? StreamUpstreamChoice(upstreamIndex: index)
        let next = choice.next(
            runtime: runtime, addresses: addresses, protocolName: "UDP", tries: settings.nextUpstreamTries, now: now)
        self.choice = choice
        guard let (chosen, address) = next else {
            loop.log.log(.error, "no live upstreams while connecting to upstream" + describe(), connection: connectionNumber)
            return run(state.noServer())
        }
        guard loop.admitConnection() else { return finish(status: 500) }
        let boundLoop = NIOLoopBound(loop, eventLoop: loop.eventLoop)
        let boundSelf = NIOLoopBound(self, eventLoop: loop.eventLoop)
        DatagramBootstrap(group: loop.eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let loop = boundLoop.value
                    loop.upstreamConnectionOpened()
                    channel.closeFuture.assumeIsolated().whenComplete { _ in loop.upstreamConnectionClosed() }
                    try channel.pipeline.syncOperations.addHandler(DatagramUpstreamHandler(session: boundSelf.value))
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
            upstream = channel
            headerPending = settings.proxyProtocol != .off
            run(state.connected())
        case .failure(let error):
            guard !state.isFinished, var choice, choice.peer == chosen else { return }
            loop.log.log(.error, UpstreamFailure(connectError: error).message + describe(), connection: connectionNumber)
            choice.endLast(at: now)
            choice.release(runtime: runtime, outcome: .failure, now: now)
            self.choice = choice
            run(state.upstreamFailed(retry: choice.retryInputs(settings, now: now)))
        }
    }

    private func scheduleIdleCheck(after nanoseconds: Int64) {
        idleTimer = loop.eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(max(nanoseconds, 1_000_000))) {
            [weak self] in
            guard let self, !self.state.isFinished else { return }
            let idle = self.now - self.lastActivity
            let limit = self.settings.timeout.nanoseconds
            guard idle >= limit else { return self.scheduleIdleCheck(after: limit - idle) }
            let actions = self.state.timedOut()
            if case .finish(let status)? = actions.first, status == 502 {
                self.loop.log.log(.error, "upstream timed out (110: Connection timed out) while proxying connection"
                    + self.describe(), connection: self.connectionNumber)
            } else {
                self.loop.log.log(.info, "udp timed out, packets from/to client:\(self.state.requests)/"
                    + "\(self.state.responses)" + self.describe(),
                    connection: self.connectionNumber)
            }
            self.run(actions)
        }
    }

    private func finish(status: Int) {
        idleTimer?.cancel()
        idleTimer = nil
        let ended = now
        choice?.release(runtime: runtime, outcome: .success, now: ended)
        choice?.endLast(at: ended)
        upstream?.close(promise: nil)
        upstream = nil
        queued = []
        firstDatagram = nil
        listener.sessionEnded(self)
        if !settings.accessLogs.isEmpty {
            loop.accessLogger.sessionEnded(
                StreamSessionEnd(
                    addresses: addresses, isUDP: true, status: status, bytesReceived: bytesReceived,
                    bytesSent: bytesSent, startedAt: startedAt, endedAt: ended, attempts: choice?.attempts ?? [],
                    connectionNumber: connectionNumber, accessLogs: settings.accessLogs))
        }
    }

    private func describe() -> String {
        (choice ?? StreamUpstreamChoice(upstreamIndex: -1)).logContext(
            udp: true, addresses: addresses, server: listener.endpoint, fromClient: bytesReceived, toClient: bytesSent)
    }
}

@available(*, unavailable)
extension DatagramSession: Sendable {}

/// The session's socket to its server: datagrams and errors go to the session.
final class DatagramUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private weak var session: DatagramSession?

    init(session: DatagramSession) {
        self.session = session
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        session?.upstreamDatagram(unwrapInboundIn(data).data)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        session?.upstreamFailed(error, channel: context.channel)
    }
}

@available(*, unavailable)
extension DatagramUpstreamHandler: Sendable {}

/// `hash KEY` for a stream session: the key with the variables known when the session starts.
enum StreamHashKey {
    static func bytes(_ method: BalancingMethodSetting, addresses: ConnectionAddresses, protocolName: String) -> [UInt8] {
        let key: VariableTemplate
        switch method {
        case .hash(let template, _), .maglev(let template): key = template
        default: return []
        }
        var out: [UInt8] = []
        for part in key.parts {
            switch part {
            case .literal(let text): out += Array(text.utf8)
            case .variable(.remoteAddr): out += Array(addresses.remoteIP.utf8)
            case .variable(.remotePort): out += Array(addresses.remotePort.utf8)
            case .variable(.binaryRemoteAddr): out += addresses.remoteBytes
            case .variable(.serverAddr): out += Array(addresses.localIP.utf8)
            case .variable(.serverPort): out += Array(addresses.localPort.utf8)
            case .variable(.protocolName): out += Array(protocolName.utf8)
            case .variable: break  // known only once the session ends
            }
        }
        return out
    }
}
