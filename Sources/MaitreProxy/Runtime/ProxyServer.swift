#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Listening sockets and the event loops' process-lifetime contexts. A reload installs a new configuration on
/// every loop (each connection picks it up at its next request) and opens or closes listeners to match; a
/// listener that stays is never closed and no connection is closed for a reload.
public final class ProxyServer: Sendable {
    public let group: MultiThreadedEventLoopGroup
    /// Upstream peers for the life of the process: admin states, weights and counters that reloads keep.
    public let registry: UpstreamRegistry
    private let log: ErrorLog
    private let state: NIOLockedValueBox<State>
    private let openConnections = ManagedCounter()
    /// Run-time lookups of `resolve` servers; their changes are installed like a reload of the same text.
    private let resolution: ResolutionService
    /// Building a snapshot and installing it happen under this lock, so a reload and a DNS change never install
    /// out of order. Never held while waiting for an event loop.
    private let installLock = NIOLock()
    /// Where DNS changes are installed: off the event loops, which must not wait for `installLock`.
    private let installQueue = DispatchQueue(label: "maitre.resolution-install")
    /// Every access-log file, opened before the configuration that names it is served.
    private let accessLogs: AccessLogFiles
    /// `sticky learn … sync`'s link to the other instances (through `zone_sync_redis`).
    let stickySync: StickySyncClient

    private struct State {
        var loops: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        /// The configuration being served (a DNS change rebuilds it with new answers).
        var configuration: Configuration?
        var listeners: [ListenEndpoint: BoundListener] = [:]
        /// A stop began: reloads are ignored from then on, as nginx's master ignores them once quitting.
        var stopping = false
    }

    private struct BoundListener {
        let channel: any Channel
        let kind: ListenerKind
    }

    public init(group: MultiThreadedEventLoopGroup, log: ErrorLog) {
        self.group = group
        self.registry = UpstreamRegistry(group: group, log: log)
        self.log = log
        self.state = NIOLockedValueBox(State())
        self.resolution = ResolutionService(loop: group.next(), log: log)
        self.accessLogs = AccessLogFiles(errorLog: log)
        self.stickySync = StickySyncClient(eventLoop: group.next(), log: log)
        resolution.onChange { [weak self] in
            guard let self else { return }
            self.installQueue.async { self.installResolvedAnswers() }
        }
    }

    /// A lookup changed some `resolve` server's addresses: the same configuration with the new answers goes to
    /// every loop through the registry's reconcile.
    private func installResolvedAnswers() {
        installLock.withLock {
            guard let configuration = state.withLockedValue({ $0.stopping ? nil : $0.configuration }) else { return }
            do {
                _ = registry.install(try ProxySnapshot(configuration: configuration, resolved: resolution.current))
            } catch {
                log.log(.error, "could not apply resolved addresses: \(error)")
            }
        }
    }

    /// The addresses actually bound (useful when a config asks for port 0).
    public var boundAddresses: [ListenEndpoint: SocketAddress] {
        state.withLockedValue { state in
            var out: [ListenEndpoint: SocketAddress] = [:]
            for (endpoint, listener) in state.listeners { out[endpoint] = listener.channel.localAddress }
            return out
        }
    }

    /// Client connections open right now, over every loop.
    public var openConnectionCount: Int { openConnections.value }

    /// Opens every listener of `snapshot` and starts serving it. Throws with nginx's bind() message.
    public func start(_ snapshot: ProxySnapshot) throws {
        let all = Array(group.makeIterator())
        let writers = try accessLogs.open(for: snapshot.configuration)
        let statsTable = ConnectionStatsTable(loopCount: all.count)
        let loops = try registry.start(snapshot) { peers in
            try all.enumerated().map { index, loop in
                try loop.submit { [log, registry, stickySync] in
                    let context = LoopContext(
                        snapshot: snapshot, eventLoop: loop, log: log, index: index, loopCount: all.count,
                        peers: peers, statsTable: statsTable)
                    context.registry = registry
                    context.stickySync = stickySync
                    context.prepareAccessLogs(writers, metrics: snapshot.configuration.hasMetricsPage)
                    return NIOLoopBound(context, eventLoop: loop)
                }.wait()
            }
        }
        state.withLockedValue { state in
            for bound in loops { state.loops[ObjectIdentifier(bound.eventLoop)] = bound }
            state.configuration = snapshot.configuration
        }
        for bound in loops { bound.eventLoop.execute { bound.value.siblings = loops } }
        do {
            try openListeners(for: snapshot)
        } catch {
            registry.stopHealthChecks()  // the probes started with the registry; nothing will serve
            throw error
        }
        resolution.sync(snapshot.configuration)
        stickySync.configure(snapshot.configuration, loops: loops)
    }

    /// Serves `snapshot` from now on: binds new endpoints first (a failure leaves everything as it was), installs
    /// the configuration on every loop, then closes listeners no longer configured.
    public func reload(_ snapshot: ProxySnapshot) throws {
        guard !state.withLockedValue({ $0.stopping }) else { return }
        let opened = try bindNew(for: snapshot)
        let installs: [EventLoopFuture<Void>]
        do {
            let writers = try accessLogs.open(for: snapshot.configuration)
            let metrics = snapshot.configuration.hasMetricsPage
            for bound in state.withLockedValue({ Array($0.loops.values) }) {
                // Posted before the install below, so the loop has the files when the new configuration arrives.
                bound.eventLoop.execute { bound.value.prepareAccessLogs(writers, metrics: metrics) }
            }
            installs = try installLock.withLock {
                // `resolve` servers the new text keeps are served with the answers they have.
                let served = try ProxySnapshot(configuration: snapshot.configuration, resolved: resolution.current)
                state.withLockedValue { $0.configuration = snapshot.configuration }
                return registry.install(served)
            }
        } catch {
            for listener in opened.values { listener.channel.close(promise: nil) }
            throw error
        }
        for installed in installs {
            try installed.wait()
        }
        adoptListeners(opened, for: snapshot)
        resolution.sync(snapshot.configuration)
        stickySync.configure(snapshot.configuration, loops: state.withLockedValue { Array($0.loops.values) })
    }

    private func openListeners(for snapshot: ProxySnapshot) throws {
        adoptListeners(try bindNew(for: snapshot), for: snapshot)
    }

    private func bindNew(for snapshot: ProxySnapshot) throws -> [ListenEndpoint: BoundListener] {
        let existing = state.withLockedValue { $0.listeners }
        var opened: [ListenEndpoint: BoundListener] = [:]
        do {
            for (listen, kind) in snapshot.listeners where existing[listen.endpoint]?.kind != kind {
                opened[listen.endpoint] = BoundListener(channel: try bind(listen, kind: kind), kind: kind)
            }
        } catch {
            for listener in opened.values { listener.channel.close(promise: nil) }
            throw error
        }
        return opened
    }

    /// Keeps the listeners `snapshot` still wants, adds `opened` and closes the rest.
    private func adoptListeners(_ opened: [ListenEndpoint: BoundListener], for snapshot: ProxySnapshot) {
        var wanted: [ListenEndpoint: ListenerKind] = [:]
        for (listen, kind) in snapshot.listeners { wanted[listen.endpoint] = kind }
        let toClose = state.withLockedValue { state -> [any Channel] in
            // A stop began during this reload: what it opened is closed rather than kept past the stop.
            if state.stopping { return opened.values.map(\.channel) }
            var toClose: [any Channel] = []
            for (endpoint, listener) in state.listeners
            where wanted[endpoint] != listener.kind || opened[endpoint] != nil {
                toClose.append(listener.channel)
                state.listeners[endpoint] = nil
            }
            state.listeners.merge(opened) { _, new in new }
            return toClose
        }
        for channel in toClose { channel.close(promise: nil) }
    }

    private func bind(_ listen: Listen, kind: ListenerKind) throws -> any Channel {
        let endpoint = listen.endpoint
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: listen.host, port: listen.port)
        } catch {
            throw ServerStartError(message: "invalid listen address \"\(endpoint)\"")
        }
        if kind == .datagram { return try bindDatagram(listen, address: address) }
        var bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: Int32(clamping: listen.backlog))
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        // Child options are set synchronously in `initialize`: the bootstrap's own child options go through a
        // chain of futures per accepted connection (about 10k instructions each). TCP_NODELAY needs none: the
        // bootstrap sets it on the listening socket and Linux copies it to every accepted one.
        if listen.reusePort {
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .init(SOL_SOCKET), name: .init(SO_REUSEPORT)), value: 1)
        }
        if case .v6 = address {
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .init(IPPROTO_IPV6), name: .init(IPV6_V6ONLY)), value: 1)
        }
        let state = self.state
        let openConnections = self.openConnections
        bootstrap = bootstrap.childChannelInitializer { channel in
            let loop = state.withLockedValue { $0.loops[ObjectIdentifier(channel.eventLoop)] }
            guard let loop else { return channel.close() }
            return channel.eventLoop.makeCompletedFuture {
                try Self.initialize(
                    channel, kind: kind, endpoint: endpoint, loop: loop.value, openConnections: openConnections)
            }
        }
        do {
            return try bootstrap.bind(to: address).wait()
        } catch let error as IOError {
            throw ServerStartError(
                message: "bind() to \(endpoint) failed (\(error.errnoCode): \(String(cString: strerror(error.errnoCode))))")
        }
    }

    /// A `listen … udp` socket, served by one event loop: its sessions and their sockets to servers live there.
    private func bindDatagram(_ listen: Listen, address: SocketAddress) throws -> any Channel {
        let endpoint = listen.endpoint
        let state = self.state
        var bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
        if listen.reusePort {
            bootstrap = bootstrap.channelOption(
                ChannelOptions.Types.SocketOption(level: .init(SOL_SOCKET), name: .init(SO_REUSEPORT)), value: 1)
        }
        if case .v6 = address {
            bootstrap = bootstrap.channelOption(
                ChannelOptions.Types.SocketOption(level: .init(IPPROTO_IPV6), name: .init(IPV6_V6ONLY)), value: 1)
        }
        bootstrap = bootstrap.channelInitializer { channel in
            let loop = state.withLockedValue { $0.loops[ObjectIdentifier(channel.eventLoop)] }
            guard let loop else { return channel.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel) }
            return channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(
                    DatagramListenerHandler(endpoint: endpoint, loop: loop.value))
            }
        }
        do {
            return try bootstrap.bind(to: address).wait()
        } catch let error as IOError {
            throw ServerStartError(
                message: "bind() to \(endpoint) failed (\(error.errnoCode): \(String(cString: strerror(error.errnoCode))))")
        }
    }

    /// An accepted connection: its kind's pipeline, then the process-wide bookkeeping every kind shares.
    private static func initialize(
        _ channel: any Channel, kind: ListenerKind, endpoint: ListenEndpoint, loop: LoopContext,
        openConnections: ManagedCounter
    ) throws {
        try kind.initialize(channel, endpoint: endpoint, loop: loop)
        loop.connectionOpened(channel, endpoint: endpoint)
        openConnections.add(1)
        channel.closeFuture.assumeIsolated().whenComplete { _ in
            loop.connectionClosed(channel)
            openConnections.add(-1)
        }
    }

    /// SIGQUIT: stop accepting, let in-flight requests finish (closing keep-alive connections as they go idle),
    /// and return once every connection is closed or `timeout` passed, in which case the rest are cut.
    public func shutdownGracefully(timeout: TimeAmount) {
        registry.stopHealthChecks()
        resolution.stop()
        stickySync.stop()
        let (listeners, loops) = takeEverything()
        for channel in listeners { try? channel.close().wait() }
        let deadline = NIODeadline.now() + timeout
        for bound in loops { bound.eventLoop.execute { bound.value.quiesce() } }
        while openConnections.value > 0, NIODeadline.now() < deadline {
            usleep(20_000)
        }
        for bound in loops { bound.eventLoop.execute { bound.value.closeAll() } }
        flushAccessLogs(loops)
    }

    /// Buffered access-log lines go to their writers, and the writers to disk (bounded): at stop.
    private func flushAccessLogs(_ loops: [NIOLoopBound<LoopContext>]) {
        let flushed = loops.map { bound in bound.eventLoop.submit { bound.value.accessLogger.flushAll() } }
        for future in flushed { _ = try? future.wait() }
        accessLogs.flushAll()
    }

    /// SIGTERM / SIGINT: close everything now.
    public func shutdownNow() {
        registry.stopHealthChecks()
        resolution.stop()
        stickySync.stop()
        let (listeners, loops) = takeEverything()
        for channel in listeners { channel.close(promise: nil) }
        for bound in loops { bound.eventLoop.execute { bound.value.closeAll() } }
        flushAccessLogs(loops)
    }

    private func takeEverything() -> ([any Channel], [NIOLoopBound<LoopContext>]) {
        state.withLockedValue { state in
            let listeners = state.listeners.values.map(\.channel)
            state.listeners = [:]
            state.stopping = true
            return (listeners, Array(state.loops.values))
        }
    }

    /// `-s reopen` (SIGUSR1): buffered access-log lines are handed over first, then every log reopens its file.
    public func reopenLogs() {
        log.reopen()
        let loops = state.withLockedValue { Array($0.loops.values) }
        for bound in loops { bound.eventLoop.execute { bound.value.accessLogger.flushAll() } }
        accessLogs.reopenAll()
    }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A counter shared across loops (connection counts), touched once per connection open and close.
final class ManagedCounter: Sendable {
    private let box = NIOLockedValueBox(0)
    func add(_ delta: Int) { box.withLockedValue { $0 += delta } }
    var value: Int { box.withLockedValue { $0 } }
}
