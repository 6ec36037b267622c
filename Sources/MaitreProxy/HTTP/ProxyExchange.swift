import MaitreBalancing
import MaitreConfig
import NIOCore

/// One client request on its way through the proxy: where it was routed, which peer it is trying, the body
/// parts kept for a retry, and how far the response got. It is also the receiver of its upstream connection's
/// events, which it hands to the client connection's handler.
final class ProxyExchange: UpstreamResponseReceiver {
    /// The client connection's handler, until it lets go of this exchange (its `exchange` property clears this
    /// when it changes, and so does its removal from the pipeline): events after that go nowhere. Held strongly,
    /// because reading a weak reference costs a side-table load on every upstream event.
    var handler: HTTPProxyHandler?
    /// The request head (its bytes go back to the loop's pool when the exchange ends).
    private(set) var request: RequestRecord
    /// The location serving the request; its settings are read through it (a class), never copied.
    let location: Location
    let serverName: String
    let upstreamIndex: Int
    private(set) var upstreamRequest: UpstreamRequest
    let isHeadRequest: Bool
    /// The client asked for keep-alive and may have it (before the response has its say).
    let clientWantsKeepAlive: Bool

    /// Peer, connection, attempts and nginx's retry decisions.
    var state: ExchangeState<UpstreamConnection>

    /// Request body parts kept for a retry, and how many of them went to the current connection.
    var bodyParts: [ByteBuffer] = []
    var bodyPartsWritten = 0
    var retainedBodyBytes = 0
    var bodyComplete: Bool
    var bodyBytesReceived = 0

    /// Set once the response head is accepted: how its end is told and whether the connections stay open.
    var response = ResponseTerms()
    /// `sticky learn`: the session this request named, and the one its response created.
    var sticky = StickyLearnState()

    struct ResponseTerms {
        var keepsClientAlive = false
        var upstreamKeepAlive = false
        var hasBody = true
    }

    init(
        handler: HTTPProxyHandler, request: RequestRecord, location: Location,
        serverName: String, upstreamIndex: Int, upstreamRequest: UpstreamRequest, balancing: PeerSelectionState,
        bodyExpected: Bool, clientWantsKeepAlive: Bool, startedAt: Int64, queues: Bool = false
    ) {
        self.handler = handler
        self.request = request
        self.location = location
        self.serverName = serverName
        self.upstreamIndex = upstreamIndex
        self.upstreamRequest = upstreamRequest
        self.isHeadRequest = request.isHead
        self.clientWantsKeepAlive = clientWantsKeepAlive
        self.bodyComplete = !bodyExpected
        let settings = location.settings
        self.state = ExchangeState(
            balancing: balancing,
            terms: .init(conditions: settings.proxyNextUpstream,
                         timeoutMilliseconds: settings.proxyNextUpstreamTimeout.milliseconds,
                         isIdempotent: request.isIdempotent, queues: queues),
            startedAt: startedAt)
        LiveObjects.created(.exchange)
    }

    deinit { LiveObjects.destroyed(.exchange) }

    /// The two head buffers, handed back for reuse once the exchange is over (nothing reads them afterwards).
    func takeHeadBuffers() -> (request: ByteBuffer, upstream: ByteBuffer) {
        let upstream = upstreamRequest.head
        upstreamRequest.head = ByteBuffer()
        return (request.takeBytes(), upstream)
    }

    var connection: UpstreamConnection? { state.connection }
    var currentPeer: PeerID? { state.peer }
    var responseStarted: Bool { state.isResponding }

    /// Still connecting to `peer` on behalf of a live client connection: a connection released meanwhile is
    /// welcome.
    func wantsConnection(toPeer peer: Int) -> Bool {
        handler != nil && state.isConnecting(toPeer: peer)
    }

    /// The pool hands over a connection to the peer this exchange is connecting to.
    func pooledConnectionArrived(_ connection: UpstreamConnection) {
        handler?.pooledConnectionArrived(connection, exchange: self)
    }

    // MARK: UpstreamResponseReceiver

    func upstreamResponseHead(_ head: UpstreamResponseHead) { handler?.upstreamResponseHead(head, exchange: self) }
    func upstreamResponseBody(_ body: ByteBuffer) { handler?.upstreamResponseBody(body, exchange: self) }
    func upstreamResponseEnd() { handler?.upstreamResponseEnd(exchange: self) }
    func upstreamReadComplete() { handler?.upstreamReadComplete(exchange: self) }
    func upstreamWritabilityChanged(isWritable: Bool) {
        handler?.upstreamWritabilityChanged(isWritable: isWritable, exchange: self)
    }
    func upstreamFailed(_ failure: UpstreamFailure) { handler?.upstreamFailed(failure, exchange: self) }
}

@available(*, unavailable)
extension ProxyExchange: Sendable {}
