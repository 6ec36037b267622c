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

    private struct State {
        var loops: [ObjectIdentifier: NIOLoopBound<LoopContext>] = [:]
        var listeners: [ListenEndpoint: any Channel] = [:]
    }

    public init(group: MultiThreadedEventLoopGroup, log: ErrorLog) {
        self.group = group
        self.registry = UpstreamRegistry(group: group)
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

    /// Client connections open right now, over every loop.
    public var openConnectionCount: Int { openConnections.value }

    /// Opens every listener of `snapshot` and starts serving it. Throws with nginx's bind() message.
    public func start(_ snapshot: ProxySnapshot) throws {
        let all = Array(group.makeIterator())
        let loops = try registry.start(snapshot) { peers in
            try all.enumerated().map { index, loop in
                try loop.submit { [log] in
                    NIOLoopBound(
                        LoopContext(
                            snapshot: snapshot, eventLoop: loop, log: log, index: index, loopCount: all.count,
                            peers: peers),
                        eventLoop: loop)
                }.wait()
            }
        }
        state.withLockedValue { state in
            for bound in loops { state.loops[ObjectIdentifier(bound.eventLoop)] = bound }
        }
        try openListeners(for: snapshot)
    }

    /// Serves `snapshot` from now on: binds new endpoints first (a failure leaves everything as it was), installs
    /// the configuration on every loop, then closes listeners no longer configured.
    public func reload(_ snapshot: ProxySnapshot) throws {
        let opened = try bindNew(for: snapshot)
        for installed in registry.install(snapshot) {
            try installed.wait()
        }
        adoptListeners(opened, for: snapshot)
    }

    private func openListeners(for snapshot: ProxySnapshot) throws {
        adoptListeners(try bindNew(for: snapshot), for: snapshot)
    }

    private func bindNew(for snapshot: ProxySnapshot) throws -> [ListenEndpoint: any Channel] {
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
        return opened
    }

    private func adoptListeners(_ opened: [ListenEndpoint: any Channel], for snapshot: ProxySnapshot) {
        let wanted = Set(snapshot.listens.map(\.endpoint))
        let toClose = state.withLockedValue { state -> [any Channel] in
            var toClose: [any Channel] = []
            for (endpoint, channel) in state.listeners where !wanted.contains(endpoint) {
                toClose.append(channel)
                state.listeners[endpoint] = nil
            }
            state.listeners.merge(opened) { a, _ in a }
            return toClose
        }
        for channel in toClose { channel.close(promise: nil) }
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
        let openConnections = self.openConnections
        bootstrap = bootstrap.childChannelInitializer { channel in
            let loop = state.withLockedValue { $0.loops[ObjectIdentifier(channel.eventLoop)] }
            guard let loop else { return channel.close() }
            return channel.eventLoop.makeCompletedFuture {
                try Self.initialize(channel, endpoint: endpoint, loop: loop.value, openConnections: openConnections)
            }
        }
        do {
            return try bootstrap.bind(to: address).wait()
        } catch let error as IOError {
            throw ServerStartError(
                message: "bind() to \(endpoint) failed (\(error.errnoCode): \(String(cString: strerror(error.errnoCode))))")
        }
    }

    /// A client connection's pipeline: one handler, serving the loop's current configuration.
    private static func initialize(
        _ channel: any Channel, endpoint: ListenEndpoint, loop: LoopContext, openConnections: ManagedCounter
    ) throws {
        guard let routes = loop.runtime.snapshot.endpoints[endpoint] else {
            // The listener is closing (a reload removed it): nothing here serves this endpoint any more.
            throw ChannelError.ioOnClosedChannel
        }
        guard loop.admitConnection() else {
            // nginx closes an accepted connection it has no slot for.
            throw ChannelError.ioOnClosedChannel
        }
        let settings = routes.route(host: nil).server.settings
        try channel.pipeline.syncOperations.addHandler(
            HTTPProxyHandler(loop: loop, endpoint: endpoint, routes: routes, connectionNumber: loop.takeConnectionNumber()))
        let high = max(settings.proxyBuffers.count * settings.proxyBuffers.size, 8192)
        if let options = channel.syncOptions {
            try options.setOption(.writeBufferWaterMark, value: .init(low: high / 2, high: high))
            try options.setOption(.maxMessagesPerRead, value: 16)
            // A client connection keeps its receive buffer between reads: start it small (request heads are a
            // few hundred bytes; nginx's client_header_buffer_size is 1k) and let it grow for bodies.
            try options.setOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 512, maximum: 65536))
        }
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
        let (listeners, loops) = takeEverything()
        for channel in listeners { try? channel.close().wait() }
        let deadline = NIODeadline.now() + timeout
        for bound in loops { bound.eventLoop.execute { bound.value.quiesce() } }
        while openConnections.value > 0, NIODeadline.now() < deadline {
            usleep(20_000)
        }
        for bound in loops { bound.eventLoop.execute { bound.value.closeAll() } }
    }

    /// SIGTERM / SIGINT: close everything now.
    public func shutdownNow() {
        let (listeners, loops) = takeEverything()
        for channel in listeners { channel.close(promise: nil) }
        for bound in loops { bound.eventLoop.execute { bound.value.closeAll() } }
    }

    private func takeEverything() -> ([any Channel], [NIOLoopBound<LoopContext>]) {
        state.withLockedValue { state in
            let listeners = Array(state.listeners.values)
            state.listeners = [:]
            return (listeners, Array(state.loops.values))
        }
    }

    public func reopenLogs() { log.reopen() }
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
