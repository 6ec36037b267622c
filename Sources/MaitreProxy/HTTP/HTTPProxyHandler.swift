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
    private let loop: LoopContext
    private var runtime: LoopRuntime
    private let endpoint: ListenEndpoint
    private var routes: EndpointRoutes
    private let connectionNumber: UInt64
    private var context: ChannelHandlerContext!
    private var addresses = ConnectionAddresses(remote: nil, local: nil)
    private var remoteIP: String { addresses.remoteIP }

    private var exchange: ProxyExchange?
    /// What the next client bytes are: a request head, or the body of the current request.
    private var input = InputState.head
    private enum InputState {
        case head
        case lengthBody(remaining: Int)
        case chunkedBody
    }
    private var chunkScanner = ChunkedScanner()
    private var chunkRanges: [Range<Int>] = []
    /// Received bytes not consumed yet: an incomplete head, or pipelined requests waiting for the response
    /// ahead of them. nil when everything was consumed (the common case: no buffer is kept between reads).
    private var pending: ByteBuffer?
    /// Beyond this many waiting bytes, reading stops until the response ahead is done.
    private static let pendingLimit = RequestHeadParser.defaultHeadLimit
    /// A request head arrived and its body has not ended.
    private var requestOpen = false
    /// A request head arrived and its response is not complete.
    private var responseOpen = false
    /// Reload or graceful stop: finish the current request, then close.
    private var quiescing = false
    /// The connection is being closed: further input is ignored.
    private var closing = false
    private var framing = BodyFramingWriter()
    /// Response bytes from the upstream were written since the last flush.
    private var unflushedResponse = false
    /// The proxied response's head, with the first small body bytes appended, not yet written: one write per
    /// small response instead of two.
    private var staged: ByteBuffer?
    /// Body bytes up to this size are copied behind the staged head rather than written separately.
    private static let stageLimit = 4096
    /// Inside `processInput`: a response finished there must not parse the next request re-entrantly.
    private var processing = false
    /// A request whose body is being read and thrown away after a local answer.
    private var discardingBody = false
    private var closeAfterDiscard = false
    private var requestsServed = 0
    private var readsPaused = false
    private var readPending = false
    private var lastProxyLocation: Location?
    private var lastUpstreamIndex: Int?
    /// This connection's entry in the loop's idle deadlines.
    var idleTicket: IdleDeadlines.Ticket?
    /// When the connection, idle since its last response, is closed; nil while a request is being served.
    private var idleDeadline: NIODeadline?
    private var bodyTimer: Scheduled<Void>?
    private var lastBodyRead = NIODeadline.now()

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

    private var log: ErrorLog { loop.log }
    /// The default server's settings: connection-level timeouts come from them, as in nginx.
    private var defaultServer: ServerRoute

    /// Between requests: serve the loop's newest configuration from here on. False when it no longer listens
    /// on this connection's endpoint (the connection then closes, as nginx's old workers' do).
    private func adoptCurrentConfiguration() -> Bool {
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

    func handlerRemoved(context: ChannelHandlerContext) {
        loop.idleDeadlines.disarm(self)
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
        bodyTimer?.cancel()
        if let exchange {
            log.log(.info, "client prematurely closed connection\(describe(exchange))", connection: connectionNumber)
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
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

    private func pauseReads() {
        readsPaused = true
    }

    private func resumeReads() {
        guard readsPaused else { return }
        readsPaused = false
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
            context.close(promise: nil)
            return
        }
        log.log(.info, "client connection error: \(error)", connection: connectionNumber)
        context.close(promise: nil)
    }

    // MARK: - Client request parts

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = self.unwrapInboundIn(data)
        guard !closing else { return }
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
    private func processInput() {
        guard !processing else { return }
        processing = true
        defer { processing = false }
        while !closing, var bytes = pending, bytes.readableBytes > 0 {
            pending = nil
            let progressed = consume(&bytes)
            if var arrived = pending { bytes.writeBuffer(&arrived) }
            pending = bytes.readableBytes > 0 ? bytes : nil
            if !progressed { break }
        }
        if closing {
            pending = nil
        } else if let pending, pending.readableBytes > Self.pendingLimit, responseOpen {
            pauseReads()
        }
    }

    /// One step over `bytes`: a head, or a piece of body. False when nothing could be consumed.
    private func consume(_ bytes: inout ByteBuffer) -> Bool {
        switch input {
        case .head:
            if responseOpen { return false }  // A pipelined request waits for the response ahead of it.
            // A head that arrives while quiescing is still served (with `Connection: close`): dropping it would
            // fail a request the client already sent.
            if exchange == nil, !adoptCurrentConfiguration() { quiescing = true }
            let rules = defaultServer.headRules
            let result = bytes.withUnsafeReadableBytes {
                RequestHeadParser.parse(
                    $0, into: &loop.requestHead, lineLimit: rules.lineLimit, headLimit: rules.headLimit,
                    underscoresInNames: rules.underscoresInNames, ignoreInvalidNames: rules.ignoreInvalidNames)
            }
            switch result {
            case .incomplete:
                return false
            case .invalid(let error):
                rejectHead(error)
                return false
            case .complete:
                let length = loop.requestHead.length
                var copy = loop.headBuffers.take(minimumCapacity: length, allocator: context.channel.allocator)
                copy.writeImmutableBuffer(bytes.readSlice(length: length)!)
                let head = loop.requestHead
                startRequest(ClientRequest(record: RequestRecord(bytes: copy, head: head), head: head))
                // Answered locally: nothing holds the copy any more.
                if exchange == nil { loop.headBuffers.recycle(copy) }
                return true
            }
        case .lengthBody(let remaining):
            let count = min(remaining, bytes.readableBytes)
            let part = bytes.readSlice(length: count)!
            input = count == remaining ? .head : .lengthBody(remaining: remaining - count)
            requestBodyReceived(part)
            if count == remaining { endRequest() }
            return true
        case .chunkedBody:
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
                if closing { return false }
            }
            bytes.moveReaderIndex(forwardBy: consumed)
            if chunkScanner.isComplete {
                chunkScanner = ChunkedScanner()
                input = .head
                endRequest()
            }
            return true
        }
    }

    private func startRequest(_ request: ClientRequest) {
        disarmIdleTimer()
        requestsServed += 1
        responseOpen = true
        let host = request.record.checkHost()
        switch RequestValidation.check(request, host: host) {
        case .failure(let status):
            if status == .methodNotAllowed {
                log.log(.info, "client sent \(request.methodName) method while reading client request headers, "
                        + "client: \(remoteIP), request: \"\(request.requestLine)\"", connection: connectionNumber)
            }
            // The connection closes after this answer, so the body (if any) is never read.
            respondLocally(status: status, keepAlive: false, isHead: request.isHead)
        case .success(let framing):
            switch framing {
            case .none: input = .head
            case .contentLength(let length): input = .lengthBody(remaining: length)
            case .chunked: input = .chunkedBody
            }
            requestOpen = framing != .none
            let hostName: String?
            if case .name(let name) = host { hostName = name } else { hostName = nil }
            requestHeadReceived(request, host: hostName, bodyFraming: framing)
            if framing == .none { endRequest() }
        }
    }

    private func endRequest() {
        requestOpen = false
        requestEndReceived()
    }

    /// A head the parser refused: answered with nginx's status, then the connection closes.
    private func rejectHead(_ error: RequestHeadError) {
        log.log(.info, "\(error.message) while reading client request headers, client: \(remoteIP)",
                connection: connectionNumber)
        responseOpen = true
        respondLocally(status: HTTPResponseStatus(statusCode: error.status), keepAlive: false, isHead: false)
    }

    /// A malformed chunked request body: 400 unless a response is already under way, then close.
    private func rejectBody() {
        log.log(.info, "client sent invalid chunked body, client: \(remoteIP)", connection: connectionNumber)
        if discardingBody || exchange?.responseStarted == true {
            closing = true
            context.close(promise: nil)
            return
        }
        let isHead = exchange?.isHeadRequest ?? false
        if let exchange {
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
        }
        respondLocally(status: .badRequest, keepAlive: false, isHead: isHead)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if !responseOpen && !requestOpen { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        exchange?.connection?.handler?.flush()
        context.fireChannelReadComplete()
    }

    /// `host`: the Host header's name, validated and lowercased (`$host` when present).
    private func requestHeadReceived(_ request: ClientRequest, host requestHost: String?, bodyFraming: BodyFraming) {
        let isHead = request.isHead
        let version = request.version
        let server = routes.route(host: requestHost)
        let keepAlive = wantsKeepAlive(request, server: server)

        let uri = request.uri
        let (rawPath, args) = RequestTarget.split(uri)
        guard let path = rawPath, let normalized = URIPath.normalize(path) else {
            respondLocally(status: .badRequest, keepAlive: false, isHead: isHead)
            return
        }
        let hostName = requestHost ?? server.primaryName
        if let action = server.server.returnAction {
            // A server-level `return` runs before any location is chosen (nginx's server rewrite phase).
            let variables = RequestVariables(
                request: request, addresses: addresses, serverName: server.primaryName, host: hostName,
                uri: normalized, args: args)
            respondReturn(action, variables: variables, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(closeAfter: !keepAlive, expected: bodyFraming != .none)
            return
        }
        let location: Location
        switch server.locations.lookup(path: normalized) {
        case .location(let found):
            location = found
        case .redirectAddingSlash:
            // nginx's auto_redirect: `/app` when `location /app/` proxies answers 301 to `/app/`.
            let localPort = addresses.localPort
            let port = localPort == "80" || localPort.isEmpty ? "" : ":" + localPort
            let target = "http://\(hostName)\(port)\(normalized)/" + (args.map { "?" + $0 } ?? "")
            respondLocally(status: .movedPermanently, keepAlive: keepAlive, isHead: isHead,
                           location: target)
            discardRequestBody(closeAfter: !keepAlive, expected: bodyFraming != .none)
            return
        case .none:
            respondLocally(status: .notFound, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(closeAfter: !keepAlive, expected: bodyFraming != .none)
            return
        }
        // Read through the location (a class): a local copy of the settings would retain every field.
        if case .contentLength(let length) = bodyFraming, location.settings.clientMaxBodySize > 0,
            length > location.settings.clientMaxBodySize
        {
            log.log(.error, "client intended to send too large body: \(length) bytes, client: \(remoteIP), "
                    + "server: \(server.primaryName), request: \"\(request.requestLine)\"",
                    connection: connectionNumber)
            respondLocally(status: .payloadTooLarge, keepAlive: false, isHead: isHead)
            return
        }

        var variables = RequestVariables(
            request: request, addresses: addresses, serverName: server.primaryName, host: hostName,
            uri: normalized, args: args)

        switch location.handler {
        case .return(let action)?:
            respondReturn(action, variables: variables, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(closeAfter: !keepAlive, expected: bodyFraming != .none)
        case nil:
            respondLocally(status: .notFound, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(closeAfter: !keepAlive, expected: bodyFraming != .none)
        case .proxyPass(let proxyPass)?:
            guard let upstreamIndex = upstreamIndex(for: location, proxyPass) else {
                respondLocally(status: .internalServerError, keepAlive: false, isHead: false)
                return
            }
            variables.proxyHost = proxyPass.proxyHost
            if case .chunked = bodyFraming, location.settings.proxyHTTPVersion == .http1_0 {
                // An HTTP/1.0 upstream cannot take a chunked body and maitred streams rather than buffers it.
                respondLocally(status: .lengthRequired, keepAlive: false, isHead: false)
                return
            }
            let target = URIPath.upstreamTarget(
                originalURI: uri, normalizedPath: normalized, args: args, location: location,
                proxyPass: proxyPass)
            guard let upstreamRequest = UpstreamRequestBuilder.build(
                for: request, target: target, location: location, variables: variables, framing: bodyFraming,
                into: loop.headBuffers.take(minimumCapacity: 0, allocator: context.channel.allocator),
                values: &loop.headerValues)
            else {
                log.log(.alert, "upstream request head over its computed size, client: \(remoteIP)",
                        connection: connectionNumber)
                respondLocally(status: .internalServerError, keepAlive: false, isHead: isHead)
                return
            }
            let balancing = runtime.startRequest(
                upstream: upstreamIndex, client: addresses.clientKey,
                nextUpstreamTries: location.settings.proxyNextUpstreamTries)
            let exchange = ProxyExchange(
                handler: self, request: request.record, location: location,
                serverName: server.primaryName, upstreamIndex: upstreamIndex, upstreamRequest: upstreamRequest,
                balancing: balancing, bodyExpected: bodyFraming != .none)
            exchange.responseKeepsClientAlive = keepAlive
            self.exchange = exchange
            if bodyFraming != .none, version == .http1_1, request.head.expectsContinue {
                var interim = context.channel.allocator.buffer(capacity: 32)
                interim.writeStaticString("HTTP/1.1 100 Continue\r\n\r\n")
                context.writeAndFlush(NIOAny(interim), promise: nil)
            }
            if !exchange.bodyComplete { armBodyTimer(location.settings.clientBodyTimeout) }
            attemptUpstream(exchange)
        }
    }

    private func requestBodyReceived(_ body: ByteBuffer) {
        lastBodyRead = .now()
        if discardingBody { return }
        guard let exchange else { return }
        exchange.bodyBytesReceived += body.readableBytes
        let limit = exchange.location.settings.clientMaxBodySize
        if limit > 0, exchange.bodyBytesReceived > limit {
            log.log(.error, "client intended to send too large chunked body: \(exchange.bodyBytesReceived) bytes"
                    + describe(exchange), connection: connectionNumber)
            if exchange.responseStarted {
                context.close(promise: nil)
                return
            }
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
            respondLocally(status: .payloadTooLarge, keepAlive: false, isHead: exchange.isHeadRequest)
            discardRequestBody(closeAfter: true, expected: true)
            return
        }
        exchange.bodyParts.append(body)
        exchange.retainedBodyBytes += body.readableBytes
        if let connection = exchange.connection {
            writeBodyParts(exchange, to: connection)
        } else {
            // Not connected yet: keep what arrived and stop reading until the upstream can take it.
            pauseReads()
        }
    }

    private func requestEndReceived() {
        bodyTimer?.cancel()
        bodyTimer = nil
        if discardingBody {
            discardingBody = false
            if !closeAfterDiscard, exchange == nil {
                armIdleTimer(defaultServer.server.settings.keepaliveTimeout)
            }
            return
        }
        guard let exchange else { return }
        exchange.bodyComplete = true
        if let connection = exchange.connection, let upstream = connection.handler {
            if exchange.bodyPartsWritten < exchange.bodyParts.count {
                writeBodyParts(exchange, to: connection)
            }
            if exchange.upstreamRequest.hasBody { upstream.sendEnd() }
            upstream.flush()
        }
    }

    // MARK: - Upstream attempts

    private func attemptUpstream(_ exchange: ProxyExchange) {
        let now = runtime.nowSeconds
        guard let peer = runtime.balancers[exchange.upstreamIndex].select(&exchange.balancing, now: now) else {
            log.log(.error, "no live upstreams while connecting to upstream" + describe(exchange),
                    connection: connectionNumber)
            failExchange(exchange, status: .badGateway)
            return
        }
        if let pooled = runtime.pools[exchange.upstreamIndex].take(peerIndex: peer.index) {
            exchange.reusedConnection = true
            use(pooled, peer: peer, for: exchange)
        } else {
            connect(to: peer, for: exchange)
        }
    }

    private func connect(to peer: PeerID, for exchange: ProxyExchange) {
        exchange.phase = .connecting(peer: peer)
        exchange.reusedConnection = false
        let plan = runtime.snapshot.upstreams[exchange.upstreamIndex]
        let address = plan.socketAddresses[peer.index]
        let peerIndex = peer.index
        let settings = exchange.location.settings
        let busy = settings.proxyBusyBuffersSize
        guard loop.admitConnection(kind: "upstream") else {
            // nginx's ngx_http_upstream_connect finalizes with 500 when no connection slot is left.
            abandonUpstream(exchange, outcome: .success)
            failExchange(exchange, status: .internalServerError)
            return
        }
        // A connection released to this peer before the connect completes serves the request instead.
        let pool = runtime.pools[exchange.upstreamIndex]
        pool.wait(exchange, peerIndex: peerIndex)
        let countedLoop = NIOLoopBound(loop, eventLoop: loop.eventLoop)
        let bootstrap = ClientBootstrap(group: loop.eventLoop)
            .connectTimeout(.milliseconds(settings.proxyConnectTimeout.milliseconds))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Set here rather than as bootstrap options, which cost a chain of futures per connection
                    // (TCP_NODELAY is the bootstrap's default).
                    try channel.syncOptions?.setOption(
                        .writeBufferWaterMark,
                        value: .init(low: busy / 2, high: max(busy, 8192)))
                    let loop = countedLoop.value
                    loop.upstreamConnectionOpened()
                    channel.closeFuture.assumeIsolated().whenComplete { _ in loop.upstreamConnectionClosed() }
                    let connection = UpstreamConnection(channel: channel, peerAddress: address, peerIndex: peerIndex)
                    let handler = UpstreamChannelHandler(connection: connection)
                    connection.handler = handler
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
        bootstrap.connect(to: address).assumeIsolated().whenComplete { [weak self, weak exchange] result in
            if let exchange { pool.stopWaiting(exchange, peerIndex: peerIndex) }
            let stillConnecting = exchange?.wantsConnection(toPeer: peerIndex) ?? false
            switch result {
            case .success(let channel):
                guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamChannelHandler.self)
                    .connection
                else {
                    channel.close(promise: nil)
                    return
                }
                guard let self, let exchange, self.exchange === exchange, stillConnecting else {
                    // The request got a released connection meanwhile, or is gone: keep this one for the next.
                    pool.release(connection)
                    return
                }
                self.use(connection, peer: peer, for: exchange)
            case .failure(let error):
                guard let self, let exchange, self.exchange === exchange, stillConnecting else { return }
                self.attemptFailed(exchange, failure: UpstreamFailure(connectError: error))
            }
        }
    }

    /// The pool hands over a connection released to the peer `exchange` is connecting to.
    func pooledConnectionArrived(_ connection: UpstreamConnection, exchange: ProxyExchange) {
        guard context != nil, exchange === self.exchange, case .connecting(let peer) = exchange.phase else {
            runtime.pools[exchange.upstreamIndex].release(connection)
            return
        }
        exchange.reusedConnection = true
        use(connection, peer: peer, for: exchange)
    }

    private func use(_ connection: UpstreamConnection, peer: PeerID, for exchange: ProxyExchange) {
        exchange.phase = .connected(connection, peer: peer)
        connection.lease(to: exchange)
        let location = exchange.location  // settings read through the class, not copied
        connection.handler?.startExchangeTimers(
            read: .milliseconds(location.settings.proxyReadTimeout.milliseconds),
            send: .milliseconds(location.settings.proxySendTimeout.milliseconds))
        exchange.requestSent = true
        exchange.bodyPartsWritten = 0
        guard let upstream = connection.handler else {
            attemptFailed(exchange, failure: .error("upstream connection closed"))
            return
        }
        upstream.expectResponse(
            toHead: exchange.isHeadRequest, clientTakesChunked: exchange.request.version == .http1_1,
            headLimit: location.settings.proxyBufferSize)
        upstream.sendHead(exchange.upstreamRequest)
        writeBodyParts(exchange, to: connection)
        if exchange.bodyComplete, exchange.upstreamRequest.hasBody {
            upstream.sendEnd()
        }
        upstream.flush()
        if connection.channel.isWritable {
            resumeReads()
        } else {
            pauseReads()
        }
    }

    private func writeBodyParts(_ exchange: ProxyExchange, to connection: UpstreamConnection) {
        while exchange.bodyPartsWritten < exchange.bodyParts.count {
            let part = exchange.bodyParts[exchange.bodyPartsWritten]
            exchange.bodyPartsWritten += 1
            connection.handler?.sendBody(part)
        }
        if exchange.retainedBodyBytes > Self.replayLimit {
            // Too large to keep for a retry: let the sent parts go so memory stays bounded.
            exchange.canReplay = false
            exchange.bodyParts.removeAll(keepingCapacity: true)
            exchange.bodyPartsWritten = 0
            exchange.retainedBodyBytes = 0
        }
        if !connection.channel.isWritable { pauseReads() }
    }

    /// An attempt failed before any response byte reached the client.
    private func attemptFailed(_ exchange: ProxyExchange, failure: UpstreamFailure) {
        let peer = exchange.currentPeer
        let wasReused = exchange.reusedConnection
        if let connection = exchange.connection { connection.close() }
        exchange.phase = .notStarted

        if let peer, wasReused, case .error = failure, exchange.canReplay,
            exchange.isIdempotent || exchange.location.settings.proxyNextUpstream.contains(.nonIdempotent)
        {
            // A keep-alive connection the upstream had already closed: retry on a fresh connection to the same
            // peer without counting a failure (nginx gives the try back in this case too). Like nginx, a POST,
            // LOCK or PATCH already sent is not repeated unless `proxy_next_upstream non_idempotent`.
            connect(to: peer, for: exchange)
            return
        }

        let level: LogLevel = .error
        log.log(level, failure.message + describe(exchange, peer: peer), connection: connectionNumber)
        if let peer {
            let disabled = runtime.balancers[exchange.upstreamIndex].release(
                peer, &exchange.balancing, outcome: .failure, now: runtime.nowSeconds)
            if disabled {
                log.log(.warn, "upstream server temporarily disabled while connecting to upstream"
                        + describe(exchange, peer: peer), connection: connectionNumber)
            }
        }
        let condition: NextUpstreamConditions
        let status: HTTPResponseStatus
        switch failure {
        case .error: condition = .error; status = .badGateway
        case .timeout: condition = .timeout; status = .gatewayTimeout
        case .invalidHeader: condition = .invalidHeader; status = .badGateway
        }
        if mayTryNextUpstream(exchange, condition: condition) {
            attemptUpstream(exchange)
        } else {
            failExchange(exchange, status: status)
        }
    }

    private func mayTryNextUpstream(_ exchange: ProxyExchange, condition: NextUpstreamConditions) -> Bool {
        let conditions = exchange.location.settings.proxyNextUpstream
        guard conditions.contains(condition), exchange.balancing.triesLeft > 0, exchange.canReplay else {
            return false
        }
        if exchange.requestSent, !exchange.isIdempotent, !conditions.contains(.nonIdempotent) { return false }
        let limit = exchange.location.settings.proxyNextUpstreamTimeout
        if limit.milliseconds > 0, NIODeadline.now() - exchange.startedAt >= .milliseconds(limit.milliseconds) {
            return false
        }
        return true
    }

    /// Ends the exchange with an error page of our own (nothing of the upstream's response was sent).
    private func failExchange(_ exchange: ProxyExchange, status: HTTPResponseStatus) {
        exchange.phase = .finished
        self.exchange = nil
        let keepAlive = exchange.responseKeepsClientAlive && exchange.bodyComplete
        respondLocally(status: status, keepAlive: keepAlive, isHead: exchange.isHeadRequest)
        if !exchange.bodyComplete { discardRequestBody(closeAfter: true, expected: true) }
    }

    /// Drops the upstream side of an exchange that will not complete normally.
    private func abandonUpstream(_ exchange: ProxyExchange, outcome: PeerOutcome) {
        let peer = exchange.currentPeer
        if let connection = exchange.connection { connection.close() }
        if let peer {
            runtime.balancers[exchange.upstreamIndex].release(peer, &exchange.balancing, outcome: outcome,
                                                              now: runtime.nowSeconds)
        }
        exchange.phase = .finished
    }

    // MARK: - Upstream events

    func upstreamResponseHead(_ upstream: UpstreamResponseHead, exchange: ProxyExchange) {
        guard exchange === self.exchange, let peer = exchange.currentPeer else { return }
        let status = upstream.status
        if let condition = NextUpstreamConditions(status: status),
            exchange.location.settings.proxyNextUpstream.contains(condition),
            mayTryNextUpstream(exchange, condition: condition)
        {
            // A status proxy_next_upstream lists: count it (403/404 do not count as failures) and try the next.
            let outcome: PeerOutcome = condition == .http403 || condition == .http404 ? .success : .failure
            exchange.connection?.close()
            exchange.phase = .notStarted
            runtime.balancers[exchange.upstreamIndex].release(peer, &exchange.balancing, outcome: outcome,
                                                              now: runtime.nowSeconds)
            attemptUpstream(exchange)
            return
        }
        exchange.responseStarted = true
        let delivery = upstream.bodyDelivery
        exchange.responseHasBody = delivery != .none
        exchange.upstreamKeepAlive = upstream.parsed.keepsConnection && delivery != .untilClose

        var keepAlive = exchange.responseKeepsClientAlive && exchange.bodyComplete && !quiescing
        let clientIsHTTP11 = exchange.request.version == .http1_1
        let framingHeader: StaticString?
        switch delivery {
        case .none, .length:
            framingHeader = nil
            framing.start(chunkEncode: false)
        case .chunkedPassthrough:
            framingHeader = "Transfer-Encoding: chunked\r\n"
            framing.start(chunkEncode: false)
        case .chunkedDecoded, .untilClose:
            if clientIsHTTP11 {
                framingHeader = "Transfer-Encoding: chunked\r\n"
                framing.start(chunkEncode: true)
            } else {
                framingHeader = nil
                framing.start(chunkEncode: false)
                keepAlive = false  // An HTTP/1.0 client learns the end of this body from the close.
            }
        }
        exchange.responseKeepsClientAlive = keepAlive

        var out = loop.headBuffers.take(
            minimumCapacity: upstream.bytes.readableBytes + 256, allocator: context.channel.allocator)
        let written = ResponseHeadWriter.write(
            upstream, date: loop.dates.current, framingHeader: framingHeader,
            keepAlive: keepAlive, keepAliveHeader: keepAlive ? exchange.location.settings.keepaliveHeaderTimeout : nil,
            into: &out)
        guard written else {
            loop.headBuffers.recycle(out)
            exchange.responseStarted = false
            attemptFailed(exchange, failure: .invalidHeader("upstream sent a response head maitred could not rewrite while reading response header from upstream"))
            return
        }
        staged = out
    }

    /// Hands the staged response head (and body bytes behind it) to the channel.
    private func writeStaged() {
        guard let out = staged else { return }
        staged = nil
        context.write(NIOAny(out), promise: nil)
        loop.headBuffers.recycle(out)
        unflushedResponse = true
    }

    func upstreamResponseBody(_ body: ByteBuffer, exchange: ProxyExchange) {
        guard exchange === self.exchange, exchange.responseHasBody else { return }
        if var out = staged, !framing.chunkEncodes, body.readableBytes <= Self.stageLimit {
            staged = nil
            var body = body
            out.writeBuffer(&body)
            staged = out
            return
        }
        writeStaged()
        framing.writeBody(body, context: context, promise: nil)
        unflushedResponse = true
        if !context.channel.isWritable {
            exchange.connection?.handler?.pauseReads()
        }
    }

    func upstreamReadComplete(exchange: ProxyExchange) {
        // After a response that ended in this read, finishResponse has flushed already.
        guard exchange === self.exchange else { return }
        writeStaged()
        guard unflushedResponse else { return }
        unflushedResponse = false
        context.flush()
    }

    func upstreamResponseEnd(exchange: ProxyExchange) {
        guard exchange === self.exchange, let peer = exchange.currentPeer else { return }
        let connection = exchange.connection
        exchange.phase = .finished
        self.exchange = nil
        let buffers = exchange.takeHeadBuffers()
        loop.headBuffers.recycle(buffers.request)
        loop.headBuffers.recycle(buffers.upstream)
        bodyTimer?.cancel()
        bodyTimer = nil
        runtime.balancers[exchange.upstreamIndex].release(peer, &exchange.balancing, outcome: .success,
                                                          now: runtime.nowSeconds)
        if let connection {
            if exchange.upstreamKeepAlive && exchange.bodyComplete {
                runtime.pools[exchange.upstreamIndex].release(connection)
            } else {
                connection.close()
            }
        }
        let keepAlive = exchange.responseKeepsClientAlive && exchange.bodyComplete
        finishResponse(keepAlive: keepAlive)
    }

    func upstreamWritabilityChanged(isWritable: Bool, exchange: ProxyExchange) {
        guard exchange === self.exchange else { return }
        if isWritable { resumeReads() } else { pauseReads() }
    }

    func upstreamFailed(_ failure: UpstreamFailure, exchange: ProxyExchange) {
        guard exchange === self.exchange else { return }
        if !exchange.responseStarted {
            attemptFailed(exchange, failure: failure)
            return
        }
        // The response is under way: the client cannot be told, only cut off.
        log.log(.error, failure.message + describe(exchange, peer: exchange.currentPeer), connection: connectionNumber)
        abandonUpstream(exchange, outcome: .success)
        self.exchange = nil
        context.close(promise: nil)
    }

    // MARK: - Local responses

    private func respondReturn(
        _ action: ReturnAction, variables: RequestVariables, keepAlive: Bool, isHead: Bool
    ) {
        let status = HTTPResponseStatus(statusCode: action.status)
        let text = action.text.map { variables.evaluate($0) }
        switch action.status {
        case 301, 302, 303, 307, 308:
            respondLocally(status: status, keepAlive: keepAlive, isHead: isHead,
                           location: text ?? "")
        default:
            if let text {
                respondLocally(status: status, keepAlive: keepAlive, isHead: isHead, body: text, contentType: "text/plain")
            } else if ErrorPages.hasPage(action.status) {
                respondLocally(status: status, keepAlive: keepAlive, isHead: isHead)
            } else {
                respondLocally(status: status, keepAlive: keepAlive, isHead: isHead,
                               body: "", contentType: "text/plain")
            }
        }
    }

    /// Writes a complete response of maitred's own: an error page unless `body` is given.
    private func respondLocally(
        status: HTTPResponseStatus, keepAlive: Bool, isHead: Bool,
        location: String? = nil, body: String? = nil, contentType: String = "text/html"
    ) {
        let keepAlive = keepAlive && !Self.closesConnection(status) && !quiescing
        let text = body ?? ErrorPages.html(status: status)
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: "maitre")
        headers.add(name: "Date", value: loop.dates.current)
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(text.utf8.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        if let location { headers.add(name: "Location", value: location) }
        let head = HTTPResponseHead(
            version: .http1_1,  // nginx's status line says HTTP/1.1 whatever the client's version
            status: status,
            headers: headers)
        writeHead(head)
        if !isHead, !text.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            framing.writeBody(buffer, context: context, promise: nil)
        }
        finishResponse(keepAlive: keepAlive)
    }

    /// nginx turns keep-alive off for these error pages (ngx_http_special_response_handler).
    private static func closesConnection(_ status: HTTPResponseStatus) -> Bool {
        switch status.code {
        case 400, 408, 413, 414, 495, 496, 497, 500, 501: return true
        default: return false
        }
    }

    private func writeHead(_ head: HTTPResponseHead) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        HTTPWire.writeResponseHead(head, into: &buffer)
        framing.start(chunkEncode: false)  // maitred's own bodies always carry Content-Length
        context.write(NIOAny(buffer), promise: nil)
    }

    /// Ends the response on the wire; then either closes, or serves what was pipelined behind it.
    private func finishResponse(keepAlive: Bool) {
        writeStaged()
        responseOpen = false
        let keepAlive = keepAlive && !quiescing
        if keepAlive {
            framing.writeEnd(context: context, promise: nil)
            context.flush()
            unflushedResponse = false
            resumeReads()
            if exchange == nil, !discardingBody {
                armIdleTimer(defaultServer.server.settings.keepaliveTimeout)
            }
            // Serves what was pipelined behind (inside processInput this returns and its loop goes on).
            processInput()
        } else {
            closing = true
            pending = nil
            let loopBound = NIOLoopBound(context!, eventLoop: context.eventLoop)
            let promise = context.eventLoop.makePromise(of: Void.self)
            framing.writeEnd(context: context, promise: promise)
            context.flush()
            promise.futureResult.assumeIsolated().whenComplete { _ in
                loopBound.value.close(promise: nil)
            }
        }
    }

    /// After a local answer to a request whose body is still coming: read it to its end and drop it.
    private func discardRequestBody(closeAfter: Bool, expected: Bool) {
        guard expected else { return }
        discardingBody = true
        closeAfterDiscard = closeAfter
        resumeReads()
    }

    // MARK: - Timers

    /// Starts the idle wait (`client_header_timeout` for a new connection, `keepalive_timeout` between requests)
    /// in the loop's idle deadlines, which look at this connection again no later than the deadline; a busy
    /// keep-alive connection only moves `idleDeadline` per request.
    private func armIdleTimer(_ timeout: TimeSpan) {
        guard timeout.milliseconds > 0 else {
            context.close(promise: nil)
            return
        }
        let deadline = NIODeadline.now() + .milliseconds(timeout.milliseconds)
        idleDeadline = deadline
        loop.idleDeadlines.arm(self, at: deadline)
    }

    /// A request head arrived: the connection is no longer idle (its entry stays queued, see armIdleTimer).
    private func disarmIdleTimer() {
        idleDeadline = nil
    }

    /// nginx's reusable connection: waiting for a (first or next) request with nothing received. Closed to make
    /// room when the loop runs out of `worker_connections`; returns whether it was.
    func closeIfIdle() -> Bool {
        guard let context, idleDeadline != nil, exchange == nil, !responseOpen, !requestOpen, !discardingBody,
            !closing, pending == nil
        else { return false }
        closing = true
        context.close(promise: nil)
        return true
    }

    func idleDeadlineCameDue() {
        guard context != nil, let deadline = idleDeadline else { return }
        if deadline > .now() {
            loop.idleDeadlines.arm(self, at: deadline)
        } else if exchange == nil, !discardingBody, !responseOpen {
            context.close(promise: nil)
        }
    }

    private func armBodyTimer(_ timeout: TimeSpan) {
        bodyTimer?.cancel()
        guard timeout.milliseconds > 0 else { return }
        lastBodyRead = .now()
        bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(timeout.milliseconds)) {
            [weak self] in
            self?.bodyTimerFired(timeout)
        }
    }

    private func bodyTimerFired(_ timeout: TimeSpan) {
        bodyTimer = nil
        guard let exchange, !exchange.bodyComplete else { return }
        let interval = TimeAmount.milliseconds(timeout.milliseconds)
        if readsPaused || NIODeadline.now() - lastBodyRead < interval {
            // Waiting on the upstream (back-pressure) does not count against the client.
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
                self?.bodyTimerFired(timeout)
            }
            return
        }
        log.log(.info, "client timed out (110: Connection timed out) while reading client request body"
                + describe(exchange), connection: connectionNumber)
        abandonUpstream(exchange, outcome: .success)
        self.exchange = nil
        if exchange.responseStarted {
            context.close(promise: nil)
        } else {
            respondLocally(status: .requestTimeout, keepAlive: false, isHead: exchange.isHeadRequest)
        }
    }

    // MARK: - Helpers

    /// The upstream a `proxy_pass` location uses, remembered for the last location of this connection (keep-alive
    /// requests mostly repeat it) so the name lookup is not made per request.
    private func upstreamIndex(for location: Location, _ proxyPass: ProxyPass) -> Int? {
        if location === lastProxyLocation { return lastUpstreamIndex }
        let index = runtime.snapshot.upstreamIndex(named: proxyPass.upstreamName)
        lastProxyLocation = location
        lastUpstreamIndex = index
        return index
    }

    private func wantsKeepAlive(_ request: ClientRequest, server: ServerRoute) -> Bool {
        request.head.isKeepAlive && server.server.settings.keepaliveTimeout.milliseconds > 0
            && requestsServed < server.server.settings.keepaliveRequests
    }

    /// nginx's error-log context: `, client: A, server: S, request: "GET / HTTP/1.1", upstream: "http://B/", host: "H"`.
    private func describe(_ exchange: ProxyExchange, peer: PeerID? = nil) -> String {
        var text = ", client: \(remoteIP), server: \(exchange.serverName), request: \"\(exchange.request.requestLine)\""
        if let peer = peer ?? exchange.currentPeer {
            let address = runtime.snapshot.upstreams[exchange.upstreamIndex].peers[peer.index].address
            text += ", upstream: \"http://\(address)\(exchange.upstreamRequest.target)\""
        }
        if let host = exchange.request.host { text += ", host: \"\(host)\"" }
        return text
    }
}

@available(*, unavailable)
extension HTTPProxyHandler: Sendable {}
