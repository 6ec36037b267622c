import Atomics
import MaitreConfig
import NIOCore

/// A `listen … udp` socket: each client address has at most one bound session (`DatagramSession`), made by its
/// first datagram on the configuration current then. Sessions count against `worker_connections` as nginx counts
/// its UDP "connections": that is the cap on how many clients are tracked at once; a datagram from a new client
/// when none is left is dropped and the shortage logged. Only ever touched on the listener's event loop.
final class DatagramListenerHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let endpoint: ListenEndpoint
    private let loop: LoopContext
    private var channel: (any Channel)?
    private var sessions: [SocketAddress: DatagramSession] = [:]
    /// Sessions still running, bound or not (`proxy_requests` unbinds one before it ends).
    private var running: [ObjectIdentifier: DatagramSession] = [:]

    init(endpoint: ListenEndpoint, loop: LoopContext) {
        self.endpoint = endpoint
        self.loop = loop
    }

    func handlerAdded(context: ChannelHandlerContext) {
        channel = context.channel
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if let session = sessions[envelope.remoteAddress] {
            session.clientDatagram(envelope.data)
            return
        }
        guard let route = loop.runtime.snapshot.streamEndpoints[endpoint] else { return }  // listener closing
        loop.stats.accepted.wrappingIncrement(ordering: .relaxed)
        guard loop.admitDatagramSession() else { return }
        loop.stats.handled.wrappingIncrement(ordering: .relaxed)
        let session = DatagramSession(
            client: envelope.remoteAddress, local: context.channel.localAddress, route: route, listener: self,
            loop: loop, connectionNumber: loop.takeConnectionNumber())
        sessions[envelope.remoteAddress] = session
        running[ObjectIdentifier(session)] = session
        loop.datagramSessionOpened()
        session.start(first: envelope.data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        channel = nil
        for session in Array(running.values) { session.listenerClosed() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A listening UDP socket reports errors of earlier sends (ICMP); nothing to do but go on.
    }

    /// A datagram from a session's server, to its client.
    func reply(_ data: ByteBuffer, to client: SocketAddress) {
        channel?.writeAndFlush(AddressedEnvelope(remoteAddress: client, data: data), promise: nil)
    }

    /// The client's next datagram starts a new session (`proxy_requests`).
    func unbind(_ session: DatagramSession) {
        if sessions[session.client] === session { sessions[session.client] = nil }
    }

    func sessionEnded(_ session: DatagramSession) {
        unbind(session)
        if running.removeValue(forKey: ObjectIdentifier(session)) != nil { loop.datagramSessionClosed() }
    }
}

@available(*, unavailable)
extension DatagramListenerHandler: Sendable {}
