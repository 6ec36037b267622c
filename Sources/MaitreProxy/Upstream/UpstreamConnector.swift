import NIOCore
import NIOPosix

/// The one way the proxy opens a connection to a peer: a channel with an `UpstreamChannelHandler`, counted against
/// its loop's `worker_connections` while open. Health checks, L4 proxying and tunnels are to use it too; tests
/// inject their own (`EmbeddedConnector` in the handler tests) to drive connects, failures and retries on
/// EmbeddedChannel without sockets.
protocol UpstreamConnector {
    /// Connects to `address` (peer `peerIndex` of its upstream) on `loop`'s event loop. `connectTimeout` is
    /// `proxy_connect_timeout`; `writeBufferHigh` bounds what may wait unsent (`proxy_busy_buffers_size`).
    func connect(
        to address: SocketAddress, peerIndex: Int, connectTimeout: TimeAmount, writeBufferHigh: Int,
        loop: LoopContext
    ) -> EventLoopFuture<UpstreamConnection>
}

extension UpstreamConnection {
    /// Sets up a fresh upstream channel: the handler, and the loop's connection count while it is open.
    static func attach(to channel: any Channel, address: SocketAddress, peerIndex: Int, loop: LoopContext) throws
        -> UpstreamConnection
    {
        loop.upstreamConnectionOpened()
        channel.closeFuture.assumeIsolated().whenComplete { _ in loop.upstreamConnectionClosed() }
        let connection = UpstreamConnection(channel: channel, peerAddress: address, peerIndex: peerIndex)
        let handler = UpstreamChannelHandler(connection: connection)
        connection.handler = handler
        do {
            try channel.pipeline.syncOperations.addHandler(handler)
        } catch {
            connection.handler = nil  // never in the pipeline, so never removed from it: no cycle left behind
            throw error
        }
        return connection
    }
}

/// TCP through NIO's ClientBootstrap.
struct SocketConnector: UpstreamConnector {
    func connect(
        to address: SocketAddress, peerIndex: Int, connectTimeout: TimeAmount, writeBufferHigh: Int,
        loop: LoopContext
    ) -> EventLoopFuture<UpstreamConnection> {
        let boundLoop = NIOLoopBound(loop, eventLoop: loop.eventLoop)
        return ClientBootstrap(group: loop.eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Set here rather than as bootstrap options, which cost a chain of futures per connection
                    // (TCP_NODELAY is the bootstrap's default).
                    try channel.syncOptions?.setOption(
                        .writeBufferWaterMark,
                        value: .init(low: writeBufferHigh / 2, high: max(writeBufferHigh, 8192)))
                    _ = try UpstreamConnection.attach(
                        to: channel, address: address, peerIndex: peerIndex, loop: boundLoop.value)
                }
            }
            .connect(to: address)
            .flatMapThrowing { channel in
                guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamChannelHandler.self)
                    .connection
                else {
                    channel.close(promise: nil)
                    throw ChannelError.inappropriateOperationForState
                }
                return connection
            }
    }
}

/// How health probes open their connections: the same connector as the request path's, without the proxy's
/// handler (a probe's channel carries `HealthProbeHandler`). Tests can inject their own.
protocol ProbeConnector: Sendable {
    /// Connects to `address` on `eventLoop` within `timeout`, `setUp` adding the probe's handlers to the channel.
    func connectProbe(
        to address: SocketAddress, timeout: TimeAmount, on eventLoop: any EventLoop,
        setUp: @escaping @Sendable (any Channel) throws -> Void
    ) -> EventLoopFuture<any Channel>
}

extension SocketConnector: ProbeConnector {
    func connectProbe(
        to address: SocketAddress, timeout: TimeAmount, on eventLoop: any EventLoop,
        setUp: @escaping @Sendable (any Channel) throws -> Void
    ) -> EventLoopFuture<any Channel> {
        ClientBootstrap(group: eventLoop)
            .connectTimeout(timeout)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try setUp(channel) } }
            .connect(to: address)
    }
}
