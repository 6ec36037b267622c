#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// Listening sockets and the configuration generation new connections get. A reload swaps the generation:
/// connections already open finish their current request under the old one and close (nginx's old workers
/// do the same), new connections get the new one; listeners are opened or closed to match.
public final class ProxyServer: Sendable {
    public let group: MultiThreadedEventLoopGroup
    private let log: ErrorLog
    private let state: NIOLockedValueBox<State>

    private struct State {
        var generation: Generation?
        var listeners: [ListenEndpoint: any Channel] = [:]
        var retired: [Generation] = []
        var stopping = false
    }

    public init(group: MultiThreadedEventLoopGroup, log: ErrorLog) {
        self.group = group
        self.log = log
        self.state = NIOLockedValueBox(State())
    }

    /// The addresses actually bound (useful when a config asks for port 0).
    public var boundAddresses: [ListenEndpoint: SocketAddress] {
        state.withLockedValue { state in
            var out: [ListenEndpoint: SocketAddress] = [:]
            for (endpoint, channel) in state.listeners { out[endpoint] = channel.localAddress }
            return out
        }
    }

    /// Opens every listener of `snapshot` and starts serving it. Throws with nginx's bind() message.
    public func start(_ snapshot: ProxySnapshot) throws {
        try apply(snapshot)
    }

    /// Serves `snapshot` from now on: binds new endpoints first (a failure leaves everything as it was), then
    /// closes listeners no longer configured and asks old connections to finish and close.
    public func reload(_ snapshot: ProxySnapshot) throws {
        try apply(snapshot)
    }

    private func apply(_ snapshot: ProxySnapshot) throws {
        let generation = try Generation(snapshot: snapshot, group: group, log: log)
        let existing = state.withLockedValue { $0.listeners }
        var opened: [ListenEndpoint: any Channel] = [:]
        do {
            for listen in snapshot.listens where existing[listen.endpoint] == nil {
                opened[listen.endpoint] = try bind(listen)
            }
        } catch {
            for channel in opened.values { channel.close(promise: nil) }
            throw error
        }
        let wanted = Set(snapshot.listens.map(\.endpoint))
        let (old, toClose) = state.withLockedValue { state -> (Generation?, [any Channel]) in
            let old = state.generation
            state.generation = generation
            var toClose: [any Channel] = []
            for (endpoint, channel) in state.listeners where !wanted.contains(endpoint) {
                toClose.append(channel)
                state.listeners[endpoint] = nil
            }
            state.listeners.merge(opened) { a, _ in a }
            if let old { state.retired.append(old) }
            return (old, toClose)
        }
        for channel in toClose { channel.close(promise: nil) }
        old?.quiesce()
    }

    private func bind(_ listen: Listen) throws -> any Channel {
        let endpoint = listen.endpoint
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: listen.host, port: listen.port)
        } catch {
            throw ServerStartError(message: "invalid listen address \"\(endpoint)\"")
        }
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
        bootstrap = bootstrap.childChannelInitializer { channel in
            let generation = state.withLockedValue { $0.generation }
            guard let generation else { return channel.close() }
            return generation.initialize(channel: channel, endpoint: endpoint)
        }
        do {
            return try bootstrap.bind(to: address).wait()
        } catch let error as IOError {
            throw ServerStartError(
                message: "bind() to \(endpoint) failed (\(error.errnoCode): \(String(cString: strerror(error.errnoCode))))")
        }
    }

    /// SIGQUIT: stop accepting, let in-flight requests finish (closing keep-alive connections as they go idle),
    /// and return once every connection is closed or `timeout` passed, in which case the rest are cut.
    public func shutdownGracefully(timeout: TimeAmount) {
        let (listeners, generations) = takeEverything()
        for channel in listeners { try? channel.close().wait() }
        let deadline = NIODeadline.now() + timeout
        for generation in generations { generation.quiesce() }
        for generation in generations {
            generation.waitUntilClosed(deadline: deadline)
        }
        for generation in generations { generation.closeAll() }
    }

    /// SIGTERM / SIGINT: close everything now.
    public func shutdownNow() {
        let (listeners, generations) = takeEverything()
        for channel in listeners { channel.close(promise: nil) }
        for generation in generations { generation.closeAll() }
    }

    private func takeEverything() -> ([any Channel], [Generation]) {
        state.withLockedValue { state in
            state.stopping = true
            let listeners = Array(state.listeners.values)
            state.listeners = [:]
            var generations = state.retired
            if let current = state.generation { generations.append(current) }
            state.generation = nil
            state.retired = []
            return (listeners, generations)
        }
    }

    /// Forgets retired generations whose connections have all closed.
    public func pruneRetired() {
        state.withLockedValue { state in
            state.retired.removeAll { $0.isDrained }
        }
    }

    public func reopenLogs() { log.reopen() }
}

public struct ServerStartError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// One configuration's per-loop runtimes and the connections accepted under it.
final class Generation: Sendable {
    let snapshot: ProxySnapshot
    private let loops: [ObjectIdentifier: NIOLoopBound<LoopState>]
    private let openConnections = ManagedCounter()

    /// Per-loop state: the runtime and the connections this loop accepted under this generation.
    final class LoopState {
        let runtime: LoopRuntime
        var connections: [ObjectIdentifier: any Channel] = [:]
        var quiescing = false
        init(runtime: LoopRuntime) { self.runtime = runtime }
    }

    init(snapshot: ProxySnapshot, group: MultiThreadedEventLoopGroup, log: ErrorLog) throws {
        self.snapshot = snapshot
        var loops: [ObjectIdentifier: NIOLoopBound<LoopState>] = [:]
        var index: UInt64 = 0
        for loop in group.makeIterator() {
            let base = index
            let bound = try loop.submit {
                NIOLoopBound(
                    LoopState(runtime: LoopRuntime(snapshot: snapshot, eventLoop: loop, log: log, connectionNumberBase: base)),
                    eventLoop: loop)
            }.wait()
            loops[ObjectIdentifier(loop)] = bound
            index += 1
        }
        self.loops = loops
    }

    func initialize(channel: any Channel, endpoint: ListenEndpoint) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            guard let loopState = loops[ObjectIdentifier(channel.eventLoop)]?.value,
                let routes = snapshot.endpoints[endpoint]
            else {
                throw ChannelError.ioOnClosedChannel
            }
            let runtime = loopState.runtime
            let number = runtime.takeConnectionNumber(stride: UInt64(loops.count))
            let settings = routes.route(host: nil).server.settings
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(HTTPProxyHandler(runtime: runtime, routes: routes, connectionNumber: number))
            let high = max(settings.proxyBuffers.count * settings.proxyBuffers.size, 8192)
            if let options = channel.syncOptions {
                try options.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
                try options.setOption(.maxMessagesPerRead, value: 16)
                // A client connection keeps its receive buffer between reads: start it small (request heads are a
                // few hundred bytes; nginx's client_header_buffer_size is 1k) and let it grow for bodies.
                try options.setOption(
                    .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
            }

            let id = ObjectIdentifier(channel)
            loopState.connections[id] = channel
            openConnections.add(1)
            if loopState.quiescing {
                channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
            }
            channel.closeFuture.assumeIsolated().whenComplete { [openConnections] _ in
                loopState.connections[id] = nil
                openConnections.add(-1)
            }
        }
    }

    /// Asks every connection to finish its current request and close; idle ones close at once.
    func quiesce() {
        for (_, bound) in loops {
            bound.eventLoop.execute {
                let loopState = bound.value
                loopState.quiescing = true
                loopState.runtime.closeIdleConnections()
                for channel in loopState.connections.values {
                    channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
                }
            }
        }
    }

    func closeAll() {
        for (_, bound) in loops {
            bound.eventLoop.execute {
                let loopState = bound.value
                loopState.runtime.closeIdleConnections()
                for channel in loopState.connections.values { channel.close(promise: nil) }
            }
        }
    }

    var isDrained: Bool { openConnections.value == 0 }

    func waitUntilClosed(deadline: NIODeadline) {
        while openConnections.value > 0, NIODeadline.now() < deadline {
            usleep(20_000)
        }
    }
}

/// A counter shared across loops (connection counts), touched once per connection open and close.
final class ManagedCounter: Sendable {
    private let box = NIOLockedValueBox(0)
    func add(_ delta: Int) { box.withLockedValue { $0 += delta } }
    var value: Int { box.withLockedValue { $0 } }
}
