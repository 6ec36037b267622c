import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// Upstream attempts (select, connect or reuse, retry on the next peer) and the events of the connection in use.
extension HTTPProxyHandler {
    // MARK: - Upstream attempts

    /// The loop's clock in nanoseconds: the time events are stamped with in the exchange's record.
    var clock: Int64 { Int64(loop.eventLoop.now.uptimeNanoseconds) }

    func attemptUpstream(_ exchange: ProxyExchange) {
        guard let peer = runtime.select(upstream: exchange.upstreamIndex, &exchange.state.balancing) else {
            if exchange.state.noLivePeer(now: clock) {
                enqueue(exchange)
                return
            }
            log.log(.error, "no live upstreams while connecting to upstream" + describe(exchange, groupName: true),
                    connection: connectionNumber)
            failExchange(exchange, status: .badGateway)
            return
        }
        startAttempt(exchange, on: peer)
    }

    /// The balancer chose `peer`: a pooled connection to it, or a new one.
    func startAttempt(_ exchange: ProxyExchange, on peer: PeerID) {
        let balancer = exchange.upstreamIndex
        let pooled = runtime.pools[balancer].take(peerIndex: peer.index, tag: exchange.location.poolTag)
        switch exchange.state.peerSelected(peer, pooled: pooled, now: clock) {
        case .send(let connection):
            loop.upstreamPoolStats.reusedOne()
            send(exchange, on: connection)
        case .connect(let peer):
            connect(to: peer, for: exchange)
        case .ignore:
            // Not selecting (cannot happen from here): undo the selection rather than leak the peer's count.
            runtime.release(peer, upstream: balancer, &exchange.state.balancing, outcome: .success)
            if let pooled { runtime.pools[balancer].release(pooled) }
        }
    }

    /// Opens a connection to the peer the exchange is connecting to.
    func connect(to peer: PeerID, for exchange: ProxyExchange) {
        let plan = runtime.snapshot.upstreams[exchange.upstreamIndex]
        let address = plan.socketAddresses[peer.index]
        let peerIndex = peer.index
        let settings = exchange.location.settings
        guard loop.admitConnection() else {
            // nginx's ngx_http_upstream_connect finalizes with 500 when no connection slot is left.
            abandonUpstream(exchange, outcome: .success)
            failExchange(exchange, status: .internalServerError)
            return
        }
        // A connection released to this peer before the connect completes serves the request instead.
        let pool = runtime.pools[exchange.upstreamIndex]
        let tag = exchange.location.poolTag
        pool.wait(exchange, peerIndex: peerIndex)
        let connecting = loop.connector.connect(
            to: address, peerIndex: peerIndex,
            connectTimeout: .milliseconds(settings.proxyConnectTimeout.milliseconds),
            writeBufferHigh: settings.proxyBusyBuffersSize, loop: loop)
        let poolStats = loop.upstreamPoolStats
        // Captured strongly until the connect completes (bounded by proxy_connect_timeout): weak captures would
        // give the handler and the exchange side tables, which slow every later retain of them.
        connecting.assumeIsolated().whenComplete { [self, exchange] result in
            pool.stopWaiting(exchange, peerIndex: peerIndex)
            switch result {
            case .success(let connection):
                poolStats.opened()
                connection.poolTag = tag  // opened for this location: only it reuses the connection under `local`
                guard context != nil, self.exchange === exchange else {
                    // The request is gone: keep the connection for the next one.
                    pool.release(connection)
                    return
                }
                self.runtime.queues[exchange.upstreamIndex]?.upstreamReached()
                self.connectionArrived(connection, reused: false, for: exchange)
            case .failure(let error):
                guard context != nil, self.exchange === exchange, exchange.state.isConnecting(toPeer: peerIndex)
                else { return }
                self.attemptFailed(exchange, failure: UpstreamFailure(connectError: error))
            }
        }
    }

    /// The pool hands over a connection released to the peer `exchange` is connecting to.
    func pooledConnectionArrived(_ connection: UpstreamConnection, exchange: ProxyExchange) {
        guard context != nil, exchange === self.exchange else {
            runtime.pools[exchange.upstreamIndex].release(connection)
            return
        }
        connectionArrived(connection, reused: true, for: exchange)
    }

    private func connectionArrived(_ connection: UpstreamConnection, reused: Bool, for exchange: ProxyExchange) {
        switch exchange.state.connectionArrived(connection, peerIndex: connection.peerIndex, reused: reused, now: clock) {
        case .send(let connection):
            send(exchange, on: connection)
        case .giveBack(let connection):
            // The request got another connection meanwhile: this one waits in the pool for the next.
            runtime.pools[exchange.upstreamIndex].release(connection)
        }
    }

    /// Sends the request (head and the body received so far) on the connection the exchange now holds.
    func send(_ exchange: ProxyExchange, on connection: UpstreamConnection) {
        connection.lease(to: exchange)
        connection.poolTag = exchange.location.poolTag
        let location = exchange.location  // settings read through the class, not copied
        connection.handler?.startExchangeTimers(
            read: .milliseconds(location.settings.proxyReadTimeout.milliseconds),
            send: .milliseconds(location.settings.proxySendTimeout.milliseconds))
        exchange.bodyPartsWritten = 0
        guard let upstream = connection.handler else {
            attemptFailed(exchange, failure: .error("upstream connection closed"))
            return
        }
        upstream.expectResponse(
            toHead: exchange.isHeadRequest, clientTakesChunked: exchange.request.version == .http1_1,
            headLimit: location.settings.proxyBufferSize)
        let headOnly = !exchange.upstreamRequest.hasBody && exchange.bodyParts.isEmpty
        exchange.state.countBytes(sent: upstream.sendHead(exchange.upstreamRequest, flush: headOnly))
        if !headOnly {
            writeBodyParts(exchange, to: connection)
            if exchange.bodyComplete, exchange.upstreamRequest.hasBody {
                exchange.state.countBytes(sent: upstream.sendEnd())
            }
            upstream.flush()
        }
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
            exchange.state.countBytes(sent: connection.handler?.sendBody(part) ?? 0)
        }
        if exchange.retainedBodyBytes > Self.replayLimit {
            // Too large to keep for a retry: let the sent parts go so memory stays bounded.
            exchange.state.replayBufferDropped()
            exchange.bodyParts.removeAll(keepingCapacity: true)
            exchange.bodyPartsWritten = 0
            exchange.retainedBodyBytes = 0
        }
        if !connection.channel.isWritable { pauseReads() }
    }

    /// The attempt in progress failed: retried as nginx would, answered with an error page, or (once the response
    /// is under way) cut off.
    func attemptFailed(_ exchange: ProxyExchange, failure: UpstreamFailure) {
        let kind: RetryPolicy.Failure
        switch failure {
        case .error: kind = .error
        case .timeout: kind = .timeout
        case .invalidHeader: kind = .invalidHeader
        }
        switch exchange.state.attemptFailed(kind, now: clock) {
        case .ignore:
            return
        case .reconnect(let peer, let closing):
            // A keep-alive connection the upstream had already closed: the same peer on a fresh connection.
            closing?.close()
            connect(to: peer, for: exchange)
        case .releaseFailedPeer(let peer, let closing):
            closing?.close()
            log.log(.error, failure.message + describe(exchange, peer: peer), connection: connectionNumber)
            if let peer {
                let disabled = runtime.release(
                    peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, outcome: .failure,
                    attempt: exchange.state.attempts.last)
                if disabled {
                    log.log(.warn, "upstream server temporarily disabled while connecting to upstream"
                            + describe(exchange, peer: peer), connection: connectionNumber)
                }
            }
            switch exchange.state.decideAfterRelease(kind, now: clock) {
            case .nextPeer:
                attemptUpstream(exchange)
            case .queue:
                // The server could not even be connected to (restarting, say): wait for it in the queue.
                runtime.queues[exchange.upstreamIndex]?.upstreamUnreachable()
                enqueue(exchange)
            case .fail(let status):
                failExchange(exchange, status: HTTPResponseStatus(statusCode: status))
            }
        case .cutOff(let peer, let closing):
            // The response is under way: the client cannot be told, only cut off.
            log.log(.error, failure.message + describe(exchange, peer: peer), connection: connectionNumber)
            closing.close()
            runtime.release(
                peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, outcome: .success,
                attempt: exchange.state.attempts.last)
            self.exchange = nil
            requestEnded(status: exchange.state.attempts.last?.status ?? 502, exchange: exchange, completed: false)
            state.close()
            context.close(promise: nil)
        }
    }

    /// Ends the exchange with an error page of our own (nothing of the upstream's response was sent).
    func failExchange(_ exchange: ProxyExchange, status: HTTPResponseStatus) {
        self.exchange = nil
        let keepAlive = exchange.clientWantsKeepAlive && exchange.bodyComplete
        respondLocally(status: status, keepAlive: keepAlive, isHead: exchange.isHeadRequest, exchange: exchange)
        if !exchange.bodyComplete { discardRequestBody(expected: true) }
    }

    /// Drops the upstream side of an exchange that will not complete normally.
    func abandonUpstream(_ exchange: ProxyExchange, outcome: PeerOutcome) {
        if exchange.state.isQueued { runtime.queues[exchange.upstreamIndex]?.remove(exchange) }
        let (peer, connection) = exchange.state.abandon(now: clock)
        connection?.close()
        if let peer {
            runtime.release(peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, outcome: outcome)
        }
    }

    // MARK: - Upstream events

    func upstreamResponseHead(_ upstream: UpstreamResponseHead, exchange: ProxyExchange) {
        guard exchange === self.exchange else { return }
        exchange.state.countBytes(received: upstream.bytes.readableBytes)
        switch exchange.state.responseHead(status: upstream.status, now: clock) {
        case .ignore:
            return
        case .refuse(let peer, let closing, let outcome):
            // A status proxy_next_upstream lists: the response is dropped and the next peer tried.
            closing.close()
            runtime.release(peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, outcome: outcome)
            attemptUpstream(exchange)
            return
        case .forward:
            if let peer = exchange.currentPeer {
                runtime.responseHeader(
                    peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, attempt: exchange.state.attempts.last)
                if case .learn(let learn)? = runtime.snapshot.upstreams[exchange.upstreamIndex].upstream.sticky {
                    exchange.sticky.created = Self.stickyCreatedID(learn, upstream, exchange.sticky)
                    if learn.afterHeaders {
                        stickyLearnFinish(learn, exchange.sticky, peer: peer, upstream: exchange.upstreamIndex)
                    }
                }
            }
        }
        let delivery = upstream.bodyDelivery
        exchange.response.hasBody = delivery != .none
        exchange.response.upstreamKeepAlive = upstream.parsed.keepsConnection && delivery != .untilClose

        var keepAlive = exchange.clientWantsKeepAlive && exchange.bodyComplete && state.lifecycle == .open
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
        exchange.response.keepsClientAlive = keepAlive

        var out = loop.headBuffers.take(minimumCapacity: upstream.bytes.readableBytes + 256)
        let written = ResponseHeadWriter.write(
            upstream, date: loop.dates.current, framingHeader: framingHeader,
            keepAlive: keepAlive, keepAliveHeader: keepAlive ? exchange.location.settings.keepaliveHeaderTimeout : nil,
            addedLine: stickyCookieLine(exchange), into: &out)
        guard written else {
            loop.headBuffers.recycle(out)
            attemptFailed(exchange, failure: .invalidHeader("upstream sent a response head maitred could not rewrite while reading response header from upstream"))
            return
        }
        exchange.state.responseHeadForwarded()
        responseStatus = upstream.status
        responseHeadBytes = out.readableBytes
        if runtime.snapshot.logsSentHeaders { sentHead = out }
        staged = out
    }

    /// Hands the staged response head (and body bytes behind it) to the channel; with `flushing`, flushed in the
    /// same trip down the pipeline (writeAndFlush).
    func writeStaged(flushing: Bool = false) {
        guard let out = staged else { return }
        staged = nil
        if flushing {
            context.writeAndFlush(NIOAny(out), promise: nil)
        } else {
            context.write(NIOAny(out), promise: nil)
        }
        loop.headBuffers.recycle(out)
        unflushedResponse = !flushing
    }

    func upstreamResponseBody(_ body: ByteBuffer, exchange: ProxyExchange) {
        guard exchange === self.exchange, exchange.response.hasBody else { return }
        responseBodyBytes += body.readableBytes
        exchange.state.countBytes(received: body.readableBytes, body: body.readableBytes)
        if var out = staged, !framing.chunkEncodes, body.readableBytes <= Self.stageLimit {
            staged = nil
            var body = body
            out.writeBuffer(&body)
            staged = out
            return
        }
        writeStaged()
        responseFramingBytes += framing.writeBody(body, context: context, promise: nil)
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
        guard exchange === self.exchange,
            case .complete(let peer, let connection) = exchange.state.responseEnded(now: clock)
        else { return }
        self.exchange = nil
        bodyTimer?.cancel()
        bodyTimer = nil
        runtime.observeResponse(peer, upstream: exchange.upstreamIndex, attempt: exchange.state.attempts.last)
        if case .learn(let learn)? = runtime.snapshot.upstreams[exchange.upstreamIndex].upstream.sticky,
            !learn.afterHeaders
        {
            stickyLearnFinish(learn, exchange.sticky, peer: peer, upstream: exchange.upstreamIndex)
        }
        runtime.release(
            peer, upstream: exchange.upstreamIndex, &exchange.state.balancing, outcome: .success,
            attempt: exchange.state.attempts.last)
        if exchange.response.upstreamKeepAlive && exchange.bodyComplete {
            runtime.pools[exchange.upstreamIndex].release(connection)
        } else {
            connection.close()
        }
        requestEnded(status: responseStatus, exchange: exchange, completed: true)
        let buffers = exchange.takeHeadBuffers()
        loop.headBuffers.recycle(buffers.request)
        loop.headBuffers.recycle(buffers.upstream)
        finishResponse(keepAlive: exchange.response.keepsClientAlive && exchange.bodyComplete)
    }

    func upstreamWritabilityChanged(isWritable: Bool, exchange: ProxyExchange) {
        guard exchange === self.exchange else { return }
        if isWritable { resumeReads() } else { pauseReads() }
    }

    func upstreamFailed(_ failure: UpstreamFailure, exchange: ProxyExchange) {
        guard exchange === self.exchange else { return }
        attemptFailed(exchange, failure: failure)
    }
}
