import MaitreBalancing
import MaitreConfig
import NIOCore

/// One client request on its way through the proxy: where it was routed, which peer it is trying, the body
/// parts kept for a retry, and how far the response got. It is also the receiver of its upstream connection's
/// events, which it hands to the client connection's handler.
final class ProxyExchange: UpstreamResponseReceiver {
    enum UpstreamPhase {
        case notStarted
        case connecting(peer: PeerID)
        case connected(UpstreamConnection, peer: PeerID)
        case finished
    }

    weak var handler: HTTPProxyHandler?
    /// The request head (its bytes go back to the loop's pool when the exchange ends).
    private(set) var request: RequestRecord
    /// The location serving the request; its settings are read through it (a class), never copied.
    let location: Location
    let serverName: String
    let upstreamIndex: Int
    private(set) var upstreamRequest: UpstreamRequest
    let startedAt: NIODeadline
    let isHeadRequest: Bool
    let isIdempotent: Bool

    var balancing: PeerSelectionState
    var phase: UpstreamPhase = .notStarted
    /// The current connection came from the keep-alive pool.
    var reusedConnection = false
    /// Bytes of this request went to some upstream (nginx's `request_sent`).
    var requestSent = false

    /// Request body parts kept for a retry, and how many of them went to the current connection.
    var bodyParts: [ByteBuffer] = []
    var bodyPartsWritten = 0
    var retainedBodyBytes = 0
    /// False once a body part was dropped after sending: the request can no longer be replayed.
    var canReplay = true
    var bodyComplete: Bool
    var bodyBytesReceived = 0

    var responseStarted = false
    var responseKeepsClientAlive = true
    var upstreamKeepAlive = false
    var responseHasBody = true

    init(
        handler: HTTPProxyHandler, request: RequestRecord, location: Location,
        serverName: String, upstreamIndex: Int, upstreamRequest: UpstreamRequest, balancing: PeerSelectionState,
        bodyExpected: Bool, startedAt: NIODeadline
    ) {
        self.handler = handler
        self.request = request
        self.location = location
        self.serverName = serverName
        self.upstreamIndex = upstreamIndex
        self.upstreamRequest = upstreamRequest
        self.balancing = balancing
        self.startedAt = startedAt
        self.isHeadRequest = request.isHead
        self.isIdempotent = request.isIdempotent
        self.bodyComplete = !bodyExpected
        LiveObjects.created(.exchange)
    }

    deinit { LiveObjects.destroyed(.exchange) }

    /// The two head buffers, handed back for reuse once the exchange is over (nothing reads them afterwards).
    func takeHeadBuffers() -> (request: ByteBuffer, upstream: ByteBuffer) {
        let upstream = upstreamRequest.head
        upstreamRequest.head = ByteBuffer()
        return (request.takeBytes(), upstream)
    }

    var connection: UpstreamConnection? {
        if case .connected(let c, _) = phase { return c }
        return nil
    }

    var currentPeer: PeerID? {
        switch phase {
        case .connecting(let p), .connected(_, let p): return p
        case .notStarted, .finished: return nil
        }
    }

    /// Still connecting to `peer` on behalf of a live client connection: a connection released meanwhile is
    /// welcome.
    func wantsConnection(toPeer peer: Int) -> Bool {
        guard handler != nil, case .connecting(let current) = phase else { return false }
        return current.index == peer
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
