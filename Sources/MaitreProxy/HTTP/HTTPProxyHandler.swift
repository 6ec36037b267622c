import Atomics
import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// The only handler of a client connection: parses requests from the raw bytes (MaitreWire), routes each
/// (server name, location), answers `return` and errors itself, and streams `proxy_pass` requests to a peer the
/// upstream's balancer picks, retrying on the next peer as `proxy_next_upstream` allows. It writes response
/// bytes itself (no encoder handler) and serves pipelined requests in order: bytes that arrive before the
/// response ahead of them is done wait unparsed, without toggling the socket's read interest for it (a pair of
/// epoll_ctl calls per request otherwise).
///
/// Back-pressure both ways: client reads stop while the upstream cannot take more (or is not connected
/// yet), upstream reads stop while the client cannot take more.
final class HTTPProxyHandler: ChannelDuplexHandler, IdleDeadlineOwner {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Request bodies up to this size are kept in memory after sending so a failed attempt can be retried.
    static let replayLimit = 64 * 1024

    /// The event loop's lifetime state; `runtime` and `routes` are the configuration this connection serves,
    /// refreshed from it at each request boundary so a reload reaches keep-alive connections too.
    let loop: LoopContext
    var runtime: LoopRuntime
    let endpoint: ListenEndpoint
    var routes: EndpointRoutes
    let connectionNumber: UInt64
    var context: ChannelHandlerContext!
    var addresses = ConnectionAddresses(remote: nil, local: nil)
    var remoteIP: String { addresses.remoteIP }

    /// The request being proxied. An exchange this handler lets go of is detached from it, so late upstream
    /// events (and the exchange's strong reference back) do not reach or keep this handler.
    var exchange: ProxyExchange? {
        didSet {
            if let old = oldValue, old !== exchange { old.handler = nil }
        }
    }
    /// What the next client bytes are, whether a response is under way, and whether the connection stays open.
    var state = ClientConnectionState()
    var chunkScanner = ChunkedScanner()
    var chunkRanges: [Range<Int>] = []
    /// Received bytes not consumed yet: an incomplete head, or pipelined requests waiting for the response
    /// ahead of them. nil when everything was consumed (the common case: no buffer is kept between reads).
    var pending: ByteBuffer?
    /// Beyond this many waiting bytes, reading stops until the response ahead is done.
    static let pendingLimit = RequestHeadParser.defaultHeadLimit
    var framing = BodyFramingWriter()
    /// Response bytes from the upstream were written since the last flush.
    var unflushedResponse = false
    /// The proxied response's head, with the first small body bytes appended, not yet written: one write per
    /// small response instead of two.
    var staged: ByteBuffer?
    /// Body bytes up to this size are copied behind the staged head rather than written separately.
    static let stageLimit = 4096
    /// Inside `processInput`: a response finished there must not parse the next request re-entrantly.
    var processing = false
    var requestsServed = 0
    var readsPaused = false
    var readPending = false
    var lastProxyLocation: Location?
    var lastUpstreamIndex: Int?
    /// This connection's entry in the loop's idle deadlines.
    var idleTicket: IdleDeadlines.Ticket?
    /// The loop's deadline heap reaches this handler through it; released when the handler leaves the pipeline
    /// (after which a slot asked for is a released one, so nothing can hold the handler again).
    private var idleSlotStorage: IdleDeadlineSlot?
    private var leftPipeline = false
    var idleSlot: IdleDeadlineSlot {
        if let slot = idleSlotStorage { return slot }
        let slot = IdleDeadlineSlot(owner: self)
        if leftPipeline {
            slot.release()
        } else {
            idleSlotStorage = slot
        }
        return slot
    }
    /// When the connection, idle since its last response, is closed; nil while a request is being served.
    var idleDeadline: NIODeadline?
    var bodyTimer: Scheduled<Void>?
    /// The request being answered, for its end record: when its head was complete, the head while it is answered
    /// locally (a proxied request's is its exchange's), the status and body bytes sent so far.
    var requestStartedAt: Int64 = 0
    var currentRequest: RequestRecord?
    var responseStatus = 0
    var responseBodyBytes = 0
    /// The response head's bytes as written, and the chunk framing written around the body (`$bytes_sent`).
    var responseHeadBytes = 0
    var responseFramingBytes = 0
    /// The response head as written, kept only while some `access_log` format reads `$sent_http_*`.
    var sentHead: ByteBuffer?
    /// Where the request was routed, for its access log (set only while a loop observes request ends).
    /// An API PATCH collecting its body.
    var pendingAPIWrite: PendingAPIWrite?
    var logServer: ServerRoute?
    var logLocation: Location?
    /// This request's `$request_id`, made when first asked for.
    lazy var requestID = RequestIDSlot(generator: loop.requestIDs)
    /// Reading a head, writing a response, or waiting: what stub_status counts this connection as.
    var statPhase = ConnectionStats.Phase.waiting
    var lastBodyRead = NIODeadline.uptimeNanoseconds(0)

    init(loop: LoopContext, endpoint: ListenEndpoint, routes: EndpointRoutes, connectionNumber: UInt64) {
        self.loop = loop
        self.runtime = loop.runtime
        self.endpoint = endpoint
        self.routes = routes
        self.connectionNumber = connectionNumber
        self.defaultServer = routes.route(host: nil)
        LiveObjects.created(.clientHandler)
    }

    deinit { LiveObjects.destroyed(.clientHandler) }

    var log: ErrorLog { loop.log }
    /// The default server's settings: connection-level timeouts come from them, as in nginx.
    var defaultServer: ServerRoute

    /// Between requests: serve the loop's newest configuration from here on. False when it no longer listens
    /// on this connection's endpoint (the connection then closes, as nginx's old workers' do).
    func adoptCurrentConfiguration() -> Bool {
        let current = loop.runtime
        guard current !== runtime else { return true }
        guard let newRoutes = current.snapshot.endpoints[endpoint] else { return false }
        runtime = current
        routes = newRoutes
        defaultServer = newRoutes.route(host: nil)
        lastProxyLocation = nil
        lastUpstreamIndex = nil
        return true
    }

    // MARK: - Connection lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        addresses = ConnectionAddresses(remote: context.channel.remoteAddress, local: context.channel.localAddress)
        if context.channel.isActive {
            armIdleTimer(defaultServer.server.settings.clientHeaderTimeout)
        }
    }

    /// A `listen … proxy_protocol` connection's header, before its first request: `$proxy_protocol_*`, and
    /// the client's address for `$remote_addr` when the default server's `set_real_ip_from` trusts the peer.
    func proxyProtocolRead(_ header: ProxyProtocolHeader.Addresses?) {
        addresses = addresses.readingProxyProtocol(header, trusted: defaultServer.server.settings.realIPFrom)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        exchange?.handler = nil  // the exchange may outlive this handler (its upstream connection still holds it)
        loop.idleDeadlines.disarm(self)
        leftPipeline = true
        idleSlotStorage?.release()  // the heap's entries hold the slot, the slot held this handler
        idleSlotStorage = nil
        bodyTimer?.cancel()
        bodyTimer = nil
        // NIO's context keeps its handler for good: holding the context past removal is a cycle that keeps this
        // handler, its context and the emptied pipeline alive forever (about 870 bytes per connection).
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer(defaultServer.server.settings.clientHeaderTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        loop.idleDeadlines.disarm(self)
        moveStat(to: .waiting)
        bodyTimer?.cancel()
        if let exchange {
            log.log(.info, "client prematurely closed connection\(describe(exchange))", connection: connectionNumber)
            let started = exchange.responseStarted
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
            // nginx logs 499 for a client that left before its response started.
            requestEnded(status: started ? responseStatus : 499, exchange: exchange, completed: false)
        }
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        if readsPaused {
            readPending = true
        } else {
            context.read()
        }
    }

    func pauseReads() {
        readsPaused = true
    }

    func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
        // The body timeout did not run while paused: it starts again from now.
        if bodyTimer != nil { lastBodyRead = loop.eventLoop.now }
        if readPending {
            readPending = false
            context.read()
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            exchange?.connection?.handler?.resumeReads()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, io.errnoCode == ECONNRESET || io.errnoCode == EPIPE {
            state.close()
            context.close(promise: nil)
            return
        }
        log.log(.info, "client connection error: \(error)", connection: connectionNumber)
        state.close()
        context.close(promise: nil)
    }

    // MARK: - Client request parts

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        guard !state.isClosing else { return }
        if var waiting = pending {
            pending = nil
            waiting.writeBuffer(&bytes)
            pending = waiting
        } else {
            pending = bytes
        }
        processInput()
    }

    /// Consumes received bytes as far as the connection's state allows: heads while no response is open,
    /// bodies while their request is.
    func processInput() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while !state.isClosing, var bytes = pending, bytes.readableBytes > 0 {
            pending = nil
            let progressed = consume(&bytes)
            if var arrived = pending { bytes.writeBuffer(&arrived) }
            pending = bytes.readableBytes > 0 ? bytes : nil
            if !progressed { break }
        }
        if state.isClosing {
            pending = nil
        } else if let pending, pending.readableBytes > Self.pendingLimit, state.response == .open {
            pauseReads()
        }
    }

    /// A head arrived (complete, or refused): this request's record starts from nothing.
    func beginRequest() {
        requestStartedAt = clock
        responseStatus = 0
        responseBodyBytes = 0
        responseHeadBytes = 0
        responseFramingBytes = 0
        sentHead = nil
        moveStat(to: .writing)
        loop.stats.requests.wrappingIncrement(ordering: .relaxed)
        requestID.reset()
        logServer = nil
        logLocation = nil
    }

    /// One step over `bytes`: a head, or a piece of body. False when nothing could be consumed.
    func consume(_ bytes: inout ByteBuffer) -> Bool {
        switch state.request {
        case .awaitingHead:
            guard state.isIdle else { return false }  // A pipelined request waits for the response ahead of it.
            // A head that arrives while quiescing is still served (with `Connection: close`): dropping it would
            // fail a request the client already sent.
            if exchange == nil, !adoptCurrentConfiguration() { state.finishAfterThisRequest() }
            let rules = defaultServer.headRules
            let result = bytes.withUnsafeReadableBytes {
                RequestHeadParser.parse(
                    $0, into: &loop.requestHead, lineLimit: rules.lineLimit, headLimit: rules.headLimit,
                    underscoresInNames: rules.underscoresInNames, ignoreInvalidNames: rules.ignoreInvalidNames)
            }
            switch result {
            case .incomplete:
                if bytes.readableBytes > 0 { moveStat(to: .reading) }
                return false
            case .invalid(let error):
                rejectHead(error, received: bytes)
                return false
            case .complete:
                let length = loop.requestHead.length
                var copy = loop.headBuffers.take(minimumCapacity: length)
                copy.writeImmutableBuffer(bytes.readSlice(length: length)!)
                let head = loop.requestHead
                let record = RequestRecord(bytes: copy, head: head, dropsUnderscoreNames: rules.dropsUnderscoreNames)
                beginRequest()
                // Only an observer reads it (a local answer's end record): otherwise no retain per request.
                if loop.requestEndObserver != nil { currentRequest = record }
                startRequest(ClientRequest(record: record, head: head))
                currentRequest = nil
                // Answered locally: nothing holds the copy any more.
                if exchange == nil { loop.headBuffers.recycle(copy) }
                return true
            }
        case .body(.length(let remaining), _):
            let count = min(remaining, bytes.readableBytes)
            let part = bytes.readSlice(length: count)!
            requestBodyReceived(part)
            let discarded = state.isDiscardingBody
            if state.lengthBodyRead(count) { requestEndReceived(discarded: discarded) }
            return true
        case .body(.chunked, _):
            chunkRanges.removeAll(keepingCapacity: true)
            let consumed: Int
            do {
                consumed = try bytes.withUnsafeReadableBytes { raw throws(ChunkedScanner.Failure) in
                    try chunkScanner.scan(raw) { chunkRanges.append($0) }
                }
            } catch {
                rejectBody()
                return false
            }
            let start = bytes.readerIndex
            for range in chunkRanges {
                requestBodyReceived(bytes.getSlice(at: start + range.lowerBound, length: range.count)!)
                if state.isClosing { return false }
            }
            bytes.moveReaderIndex(forwardBy: consumed)
            if chunkScanner.isComplete {
                chunkScanner = ChunkedScanner()
                let discarded = state.isDiscardingBody
                state.chunkedBodyEnded()
                requestEndReceived(discarded: discarded)
            }
            return true
        }
    }

    func startRequest(_ request: ClientRequest) {
        disarmIdleTimer()
        requestsServed += 1
        let host = request.record.checkHost()
        let targetHost = request.record.checkTargetHost()
        switch RequestValidation.check(request, host: host, targetHost: targetHost) {
        case .failure(let status):
            if status == .methodNotAllowed {
                log.log(.info, "client sent \(request.methodName) method while reading client request headers, "
                        + "client: \(remoteIP), request: \"\(request.requestLine)\"", connection: connectionNumber)
            }
            // The connection closes after this answer, so the body (if any) is never read.
            state.headRefused()
            respondLocally(status: status, keepAlive: false, isHead: request.isHead)
        case .success(let framing):
            state.headAccepted(framing: framing)
            // The request line's host wins over the Host header's.
            requestHeadReceived(request, host: targetHost?.name ?? host.name, bodyFraming: framing)
            if framing == .none { requestEndReceived(discarded: false) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            switch state.quiesce() {
            case .closeNow: context.close(promise: nil)
            case .finishFirst: break
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.connection?.handler?.flush()
        context.fireChannelReadComplete()
    }
}

extension HTTPProxyHandler {
    /// The connection starts reading a head, starts answering, or goes back to waiting (stub_status).
    func moveStat(to phase: ConnectionStats.Phase) {
        guard phase != statPhase else { return }
        loop.stats.move(from: statPhase, to: phase)
        statPhase = phase
    }
}

@available(*, unavailable)
extension HTTPProxyHandler: Sendable {}
