import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// Upstream attempts (select, connect or reuse, retry on the next peer) and the events of the connection in use.
extension HTTPProxyHandler {
    // MARK: - Upstream attempts

    func attemptUpstream(_ exchange: ProxyExchange) {
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

    func connect(to peer: PeerID, for exchange: ProxyExchange) {
        exchange.phase = .connecting(peer: peer)
        exchange.reusedConnection = false
        let plan = runtime.snapshot.upstreams[exchange.upstreamIndex]
        let address = plan.socketAddresses[peer.index]
        let peerIndex = peer.index
        let settings = exchange.location.settings
        let busy = settings.proxyBusyBuffersSize
        guard loop.admitConnection() else {
            // nginx's ngx_http_upstream_connect finalizes with 500 when no connection slot is left.
            abandonUpstream(exchange, outcome: .success)
            failExchange(exchange, status: .internalServerError)
            return
        }
        // A connection released to this peer before the connect completes serves the request instead.
        let pool = runtime.pools[exchange.upstreamIndex]
        pool.wait(exchange, peerIndex: peerIndex)
        let connecting = loop.connector.connect(
            to: address, peerIndex: peerIndex,
            connectTimeout: .milliseconds(settings.proxyConnectTimeout.milliseconds), writeBufferHigh: busy,
            loop: loop)
        connecting.assumeIsolated().whenComplete { [weak self, weak exchange] result in
            if let exchange { pool.stopWaiting(exchange, peerIndex: peerIndex) }
            let stillConnecting = exchange?.wantsConnection(toPeer: peerIndex) ?? false
            switch result {
            case .success(let connection):
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

    func use(_ connection: UpstreamConnection, peer: PeerID, for exchange: ProxyExchange) {
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

    func writeBodyParts(_ exchange: ProxyExchange, to connection: UpstreamConnection) {
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
    func attemptFailed(_ exchange: ProxyExchange, failure: UpstreamFailure) {
        let peer = exchange.currentPeer
        if let connection = exchange.connection { connection.close() }
        exchange.phase = .notStarted
        let kind: RetryPolicy.Failure
        switch failure {
        case .error: kind = .error
        case .timeout: kind = .timeout
        case .invalidHeader: kind = .invalidHeader
        }
        if let peer, RetryPolicy.retriesOnFreshConnection(kind, retryAttempt(exchange)) {
            // A keep-alive connection the upstream had already closed: the same peer on a fresh connection.
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
        switch RetryPolicy.afterFailure(kind, retryAttempt(exchange)) {
        case .nextPeer:
            attemptUpstream(exchange)
        case .fail(let status):
            failExchange(exchange, status: HTTPResponseStatus(statusCode: status))
        }
    }

    /// What RetryPolicy needs to know about the exchange now.
    func retryAttempt(_ exchange: ProxyExchange) -> RetryPolicy.Attempt {
        let settings = exchange.location.settings
        return RetryPolicy.Attempt(
            conditions: settings.proxyNextUpstream, triesLeft: exchange.balancing.triesLeft,
            canReplay: exchange.canReplay, requestSent: exchange.requestSent, isIdempotent: exchange.isIdempotent,
            elapsedMilliseconds: (loop.eventLoop.now - exchange.startedAt).nanoseconds / 1_000_000,
            timeoutMilliseconds: settings.proxyNextUpstreamTimeout.milliseconds,
            reusedConnection: exchange.reusedConnection)
    }

    /// Ends the exchange with an error page of our own (nothing of the upstream's response was sent).
    func failExchange(_ exchange: ProxyExchange, status: HTTPResponseStatus) {
        exchange.phase = .finished
        self.exchange = nil
        let keepAlive = exchange.responseKeepsClientAlive && exchange.bodyComplete
        respondLocally(status: status, keepAlive: keepAlive, isHead: exchange.isHeadRequest)
        if !exchange.bodyComplete { discardRequestBody(expected: true) }
    }

    /// Drops the upstream side of an exchange that will not complete normally.
    func abandonUpstream(_ exchange: ProxyExchange, outcome: PeerOutcome) {
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
        if RetryPolicy.retriesStatus(
            status, conditions: exchange.location.settings.proxyNextUpstream, retryAttempt(exchange))
        {
            // A status proxy_next_upstream lists: count it (403/404 do not count as failures) and try the next.
            let outcome: PeerOutcome = status == 403 || status == 404 ? .success : .failure
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

        var keepAlive = exchange.responseKeepsClientAlive && exchange.bodyComplete && state.lifecycle == .open
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
    func writeStaged() {
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
        state.close()
        context.close(promise: nil)
    }
}
