import MaitreWire
import NIOCore
import NIOPosix

/// One DNS question over UDP, as nginx's resolver asks it: sent to the first name server, sent again to the next
/// one every `resend` until an answer comes or `timeout` is over. Each send uses a socket of its own on a random
/// port with a random id, and only an answer from the server asked, with that id and that question, is taken:
/// anything else arriving is ignored. Every byte of an answer is hostile; `DNSResponse.parse` never traps.
enum DNSLookup {
    enum Failure: Error, CustomStringConvertible {
        case timedOut
        case unencodable(String)
        case noServers

        var description: String {
            switch self {
            case .timedOut: return "Operation timed out"
            case .unencodable(let name): return "\(name) is not a valid name"
            case .noServers: return "no name servers"
            }
        }
    }

    /// nginx resends every 5 s; a shorter interval finds a live second server sooner when the first is gone.
    static let resendInterval = TimeAmount.seconds(2)

    static func ask(
        _ name: String, type: DNSRecordType, servers: [SocketAddress], timeout: TimeAmount, on loop: any EventLoop
    ) -> EventLoopFuture<DNSResponse> {
        guard !servers.isEmpty else { return loop.makeFailedFuture(Failure.noServers) }
        let id = UInt16.random(in: 0...UInt16.max)
        guard let query = DNSQuery.encode(id: id, name: name, type: type) else {
            return loop.makeFailedFuture(Failure.unencodable(name))
        }
        let exchange = DNSExchange(
            loop: loop, expected: .init(id: id, name: DNSQuery.normalized(name), type: type), query: query,
            servers: servers)
        loop.execute { exchange.start(timeout: timeout) }
        return exchange.promise.futureResult
    }
}

/// One lookup's sockets and timers, all on `loop`.
private final class DNSExchange: @unchecked Sendable {
    struct Expected: Sendable {
        let id: UInt16
        let name: String
        let type: DNSRecordType
    }

    let loop: any EventLoop
    let expected: Expected
    let query: [UInt8]
    let servers: [SocketAddress]
    let promise: EventLoopPromise<DNSResponse>
    private var channels: [any Channel] = []
    private var timers: [Scheduled<Void>] = []
    private var attempt = 0

    init(loop: any EventLoop, expected: Expected, query: [UInt8], servers: [SocketAddress]) {
        self.loop = loop
        self.expected = expected
        self.query = query
        self.servers = servers
        self.promise = loop.makePromise(of: DNSResponse.self)
        promise.futureResult.whenComplete { [self] _ in finish() }
    }

    func start(timeout: TimeAmount) {
        timers.append(loop.scheduleTask(in: timeout) { [self] in promise.fail(DNSLookup.Failure.timedOut) })
        send()
    }

    private func send() {
        let server = servers[attempt % servers.count]
        attempt += 1
        let expected = self.expected
        let promise = self.promise
        let bind = server.protocol == .inet6 ? "::" : "0.0.0.0"
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        DNSReplyHandler(server: server, expected: expected, promise: promise))
                }
            }
            .bind(host: bind, port: 0)
            .whenComplete { [self] result in
                guard case .success(let channel) = result else { return }  // the resend or the timeout decides
                channels.append(channel)
                var buffer = channel.allocator.buffer(capacity: query.count)
                buffer.writeBytes(query)
                channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: buffer), promise: nil)
            }
        timers.append(loop.scheduleTask(in: DNSLookup.resendInterval) { [self] in send() })
    }

    private func finish() {
        for timer in timers { timer.cancel() }
        timers.removeAll()
        for channel in channels { channel.close(promise: nil) }
        channels.removeAll()
    }
}

/// Takes the first datagram that answers the question from the server it was sent to.
private final class DNSReplyHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let server: SocketAddress
    let expected: DNSExchange.Expected
    let promise: EventLoopPromise<DNSResponse>

    init(server: SocketAddress, expected: DNSExchange.Expected, promise: EventLoopPromise<DNSResponse>) {
        self.server = server
        self.expected = expected
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == server,
            let bytes = envelope.data.getBytes(at: envelope.data.readerIndex, length: envelope.data.readableBytes),
            case .success(let response) = DNSResponse.parse(bytes),
            response.matches(id: expected.id, name: expected.name, type: expected.type)
        else { return }
        promise.succeed(response)
    }
}
