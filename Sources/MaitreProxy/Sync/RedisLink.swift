import MaitreConfig
import MaitreWire
import NIOCore
import NIOPosix

/// One connection to Redis that keeps itself open: `RedisLinkState` decides, this runs its actions on
/// `eventLoop` (every method must be called there). What the link is for (commands, or subscribed messages)
/// is the owner's: it hears `onReady`, each reply or message (`onValue`) and `onLost`.
final class RedisLink {
    let eventLoop: any EventLoop
    private let setting: ZoneSyncRedis
    private let log: ErrorLog
    private var machine: RedisLinkState
    private var channel: (any Channel)?
    /// Bumped for every connection, so a late event of an old one is ignored.
    private var generation = 0
    private var retryTask: Scheduled<Void>?
    private var ticks: RepeatedTask?

    var onReady: () -> Void = {}
    var onValue: (RESPValue) -> Void = { _ in }
    var onLost: () -> Void = {}

    init(role: String, handshake: [[UInt8]], setting: ZoneSyncRedis, eventLoop: any EventLoop, log: ErrorLog) {
        self.eventLoop = eventLoop
        self.setting = setting
        self.log = log
        self.machine = RedisLinkState(
            name: "redis \(setting.address) (\(role))", handshake: handshake, timeout: setting.timeout.milliseconds)
    }

    var isReady: Bool { machine.isReady }

    /// True when a command written now would go out without piling up behind a slow server.
    var isWritable: Bool { machine.acceptsCommands && (channel?.isWritable ?? false) }

    func start() {
        ticks = eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { [self] _ in
            run(machine.tick(now: Self.now()))
        }
        run(machine.start())
    }

    func stop() {
        retryTask?.cancel()
        retryTask = nil
        ticks?.cancel()
        ticks = nil
        run(machine.stop())
    }

    /// Writes commands (each one RESP-encoded command) on a ready link; each one's reply comes to `onValue`, in
    /// order.
    func send(_ commands: [[UInt8]]) {
        guard let channel, machine.isReady else { return }
        machine.sent(commands.count, now: Self.now())
        write(commands, to: channel)
    }

    private static func now() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    private func run(_ actions: [RedisLinkState.Action]) {
        for action in actions {
            switch action {
            case .connect: connect()
            case .send(let commands):
                if let channel { write(commands, to: channel) }
            case .close:
                channel?.close(promise: nil)
            case .retry(let milliseconds):
                retryTask = eventLoop.scheduleTask(in: .milliseconds(milliseconds)) { [self] in
                    retryTask = nil
                    run(machine.retryTimerFired())
                }
            case .log(let level, let message): log.log(level, message)
            case .becameReady: onReady()
            case .deliver(let value): onValue(value)
            case .lost: onLost()
            }
        }
    }

    private func write(_ commands: [[UInt8]], to channel: any Channel) {
        var buffer = channel.allocator.buffer(capacity: commands.reduce(0) { $0 + $1.count })
        for command in commands { buffer.writeBytes(command) }
        channel.writeAndFlush(buffer, promise: nil)
    }

    private func connect() {
        generation += 1
        let generation = generation
        let address: SocketAddress
        do {
            switch setting.address {
            case .tcp(let resolved): address = try SocketAddress(ipAddress: resolved.ip, port: resolved.port)
            case .unix(let path): address = try SocketAddress(unixDomainSocketPath: path)
            }
        } catch {
            run(machine.connectFailed("\(error)"))
            return
        }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.milliseconds(setting.connectTimeout.milliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(RedisReplyHandler(link: bound, generation: generation))
                }
            }
            .connect(to: address)
            .whenComplete { result in
                let link = bound.value
                guard link.generation == generation else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                switch result {
                case .success(let channel):
                    link.channel = channel
                    link.run(link.machine.connected(now: Self.now()))
                case .failure(let error):
                    link.run(link.machine.connectFailed(connectFailureReason(error).text))
                }
            }
    }

    fileprivate func received(_ values: [RESPValue], generation: Int) {
        guard generation == self.generation else { return }
        let now = Self.now()
        for value in values { run(machine.received(value, now: now)) }
    }

    fileprivate func refused(_ error: RESPError, generation: Int) {
        guard generation == self.generation else { return }
        run(machine.protocolError(error.description))
    }

    fileprivate func closed(generation: Int) {
        guard generation == self.generation, channel != nil else { return }
        channel = nil
        run(machine.closed())
    }
}

/// Decodes what Redis sends and hands whole values to the link; refused bytes close the connection.
private final class RedisReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let link: NIOLoopBound<RedisLink>
    private let generation: Int
    private var decoder = RESPDecoder()
    private var failed = false

    init(link: NIOLoopBound<RedisLink>, generation: Int) {
        self.link = link
        self.generation = generation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        let buffer = unwrapInboundIn(data)
        do {
            let values = try decoder.feed(buffer.readableBytesView)
            if !values.isEmpty { link.value.received(values, generation: generation) }
        } catch {
            failed = true
            link.value.refused(error, generation: generation)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        link.value.closed(generation: generation)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
