import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// Routing a parsed request: server and location, local answers, or the start of a proxied exchange; and the
/// request body as it arrives.
extension HTTPProxyHandler {
    /// `host`: the Host header's name, validated and lowercased (`$host` when present).
    func requestHeadReceived(_ request: ClientRequest, host requestHost: String?, bodyFraming: BodyFraming) {
        let isHead = request.isHead
        let version = request.version
        let server = routes.route(host: requestHost)
        let keepAlive = wantsKeepAlive(request, server: server)
        if loop.requestEndObserver != nil { logServer = server }

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
                uri: normalized, args: args, requestID: requestID)
            respondReturn(action, variables: variables, settings: server.server.settings, requestHost: requestHost,
                          keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
            return
        }
        let location: Location
        switch server.locations.lookup(path: normalized) {
        case .location(let found):
            location = found
            if loop.requestEndObserver != nil { logLocation = found }
        case .redirectAddingSlash:
            // nginx's auto_redirect: `/app` when `location /app/` proxies answers 301 to `/app/`.
            let target = absoluteLocation(
                "\(normalized)/" + (args.map { "?" + $0 } ?? ""), settings: server.server.settings,
                requestHost: requestHost, serverName: server.primaryName)
            respondLocally(status: .movedPermanently, keepAlive: keepAlive, isHead: isHead,
                           location: target)
            discardRequestBody(expected: bodyFraming != .none)
            return
        case .none:
            if !clientAllowed(by: server.server.settings.accessRules, server: server, request: request) {
                respondLocally(status: .forbidden, keepAlive: keepAlive, isHead: isHead)
            } else {
                respondLocally(status: .notFound, keepAlive: keepAlive, isHead: isHead)
            }
            discardRequestBody(expected: bodyFraming != .none)
            return
        }
        // nginx's access phase comes after its rewrite phase: a location's `return` answers whatever allow/deny say.
        if case .return? = location.handler {
        } else if !clientAllowed(by: location.settings.accessRules, server: server, request: request) {
            respondLocally(status: .forbidden, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
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
            uri: normalized, args: args, requestID: requestID)

        switch location.handler {
        case .metrics?:
            respondMetrics(
                method: request.record.method, accept: request.record.headerValues(named: "accept"),
                keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
        case .statusPage?:
            respondStatusPage(method: request.record.method, args: args, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
        case .api(let settings)?:
            respondAPI(
                settings, method: request.record.method, methodName: request.methodName, path: normalized,
                location: location, keepAlive: keepAlive, isHead: isHead, bodyExpected: bodyFraming != .none)
            if pendingAPIWrite == nil { discardRequestBody(expected: bodyFraming != .none) }
        case .stubStatus?:
            respondStubStatus(method: request.record.method, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
        case .checkStatus(let format)?:
            respondCheckStatus(format, query: args, method: request.record.method, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
        case .return(let action)?:
            respondReturn(action, variables: variables, settings: location.settings, requestHost: requestHost,
                          keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
        case nil:
            respondLocally(status: .notFound, keepAlive: keepAlive, isHead: isHead)
            discardRequestBody(expected: bodyFraming != .none)
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
                into: loop.headBuffers.take(minimumCapacity: 0),
                values: &loop.headerValues)
            else {
                log.log(.alert, "upstream request head over its computed size, client: \(remoteIP)",
                        connection: connectionNumber)
                respondLocally(status: .internalServerError, keepAlive: false, isHead: isHead)
                return
            }
            var balancing = runtime.startRequest(
                upstream: upstreamIndex, client: addresses.clientKey,
                hashKey: Self.hashKey(runtime.snapshot.upstreams[upstreamIndex].upstream.method, variables),
                nextUpstreamTries: location.settings.proxyNextUpstreamTries)
            var learnState: StickyLearnState?
            // Read in place: copying the upstream's settings would retain every field per request.
            let sticky = runtime.snapshot.upstreams[upstreamIndex].upstream.sticky
            if case .learn(let learn)? = sticky {
                let (state, hint) = stickyLearnStart(learn, variables)
                learnState = state
                balancing.stickyHint = hint
            } else if let sticky {
                balancing.stickyHint = StickySession.hint(sticky, variables)
            }
            let exchange = ProxyExchange(
                handler: self, request: request.record, location: location,
                serverName: server.primaryName, upstreamIndex: upstreamIndex, upstreamRequest: upstreamRequest,
                balancing: balancing, bodyExpected: bodyFraming != .none, clientWantsKeepAlive: keepAlive,
                startedAt: requestStartedAt, queues: runtime.queues[upstreamIndex] != nil)
            if let learnState { exchange.sticky = learnState }
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

    func requestBodyReceived(_ body: ByteBuffer) {
        lastBodyRead = loop.eventLoop.now
        if state.isDiscardingBody { return }
        guard let exchange else {
            apiBodyReceived(body)
            return
        }
        exchange.bodyBytesReceived += body.readableBytes
        let limit = exchange.location.settings.clientMaxBodySize
        if limit > 0, exchange.bodyBytesReceived > limit {
            log.log(.error, "client intended to send too large chunked body: \(exchange.bodyBytesReceived) bytes"
                    + describe(exchange), connection: connectionNumber)
            if exchange.responseStarted {
                abandonUpstream(exchange, outcome: .success)
                self.exchange = nil
                requestEnded(status: responseStatus, exchange: exchange, completed: false)
                state.close()
                context.close(promise: nil)
                return
            }
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
            respondLocally(status: .payloadTooLarge, keepAlive: false, isHead: exchange.isHeadRequest,
                           exchange: exchange)
            discardRequestBody(expected: true)
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

    /// The request's body ended (or it had none). `discarded`: its bytes were being dropped after a local answer.
    func requestEndReceived(discarded: Bool) {
        bodyTimer?.cancel()
        bodyTimer = nil
        if discarded {
            if !state.isClosing, exchange == nil, state.response == .none {
                armIdleTimer(defaultServer.server.settings.keepaliveTimeout)
            }
            return
        }
        guard let exchange else {
            apiBodyComplete()
            return
        }
        exchange.bodyComplete = true
        if let connection = exchange.connection, let upstream = connection.handler {
            if exchange.bodyPartsWritten < exchange.bodyParts.count {
                writeBodyParts(exchange, to: connection)
            }
            if exchange.upstreamRequest.hasBody { upstream.sendEnd() }
            upstream.flush()
        }
    }

    // MARK: - Helpers

    /// The `hash KEY` value of this request (the key's variables evaluated now, as nginx evaluates it when the
    /// upstream request starts).
    static func hashKey(_ method: BalancingMethodSetting, _ variables: RequestVariables) -> [UInt8] {
        switch method {
        case .hash(let key, _), .maglev(let key): return variables.evaluateBytes(key)
        default: return []
        }
    }

    /// `allow` / `deny`: true when the client may go on; a refusal is logged as nginx logs it.
    func clientAllowed(by rules: [AccessRule], server: ServerRoute, request: ClientRequest) -> Bool {
        guard !rules.isEmpty, !AccessRule.allows(addresses.remoteBytes, by: rules) else { return true }
        log.log(.error, "access forbidden by rule, client: \(remoteIP), server: \(server.primaryName), "
                + "request: \"\(request.record.requestLine)\"" + (request.record.host.map { ", host: \"\($0)\"" } ?? ""),
                connection: connectionNumber)
        return false
    }

    /// The upstream a `proxy_pass` location uses, remembered for the last location of this connection (keep-alive
    /// requests mostly repeat it) so the name lookup is not made per request.
    func upstreamIndex(for location: Location, _ proxyPass: ProxyPass) -> Int? {
        if location === lastProxyLocation { return lastUpstreamIndex }
        let index = runtime.snapshot.upstreamIndex(named: proxyPass.upstreamName)
        lastProxyLocation = location
        lastUpstreamIndex = index
        return index
    }

    func wantsKeepAlive(_ request: ClientRequest, server: ServerRoute) -> Bool {
        request.head.isKeepAlive && server.server.settings.keepaliveTimeout.milliseconds > 0
            && requestsServed < server.server.settings.keepaliveRequests
    }

    /// nginx's error-log context: `, client: A, server: S, request: "GET / HTTP/1.1", upstream: "http://B/", host: "H"`.
    /// `groupName`: no peer could be chosen, and nginx names the upstream group (its `pc->name`).
    func describe(_ exchange: ProxyExchange, peer: PeerID? = nil, groupName: Bool = false) -> String {
        var text = ", client: \(remoteIP), server: \(exchange.serverName), request: \"\(exchange.request.requestLine)\""
        if groupName {
            let name = runtime.snapshot.upstreams[exchange.upstreamIndex].upstream.name
            text += ", upstream: \"http://\(name)\(exchange.upstreamRequest.target)\""
        } else if let peer = peer ?? exchange.currentPeer {
            let address = runtime.snapshot.upstreams[exchange.upstreamIndex].peers[peer.index].address
            text += ", upstream: \"http://\(address)\(exchange.upstreamRequest.target)\""
        }
        if let host = exchange.request.host { text += ", host: \"\(host)\"" }
        return text
    }
}

extension HTTPProxyHandler {
    /// A head the parser refused: answered with nginx's status, then the connection closes. Its log line shows
    /// what nginx's would: the request line (or the first line as received) and the header lines taken before
    /// the refused one.
    func rejectHead(_ error: RequestHeadError, received bytes: ByteBuffer) {
        beginRequest()
        log.log(.info, "\(error.message) while reading client request headers, client: \(remoteIP)",
                connection: connectionNumber)
        state.headRefused()
        if loop.requestEndObserver != nil {
            let rules = defaultServer.headRules
            currentRequest = RequestRecord.refused(
                bytes, head: loop.requestHead, lineLimit: rules.lineLimit,
                dropsUnderscoreNames: rules.dropsUnderscoreNames, pool: loop.headBuffers)
        }
        respondLocally(status: HTTPResponseStatus(statusCode: error.status), keepAlive: false, isHead: false,
                       body: error == .headerTooLarge ? ErrorPages.headerTooLarge : nil)
        if var record = currentRequest {
            currentRequest = nil
            loop.headBuffers.recycle(record.takeBytes())
        }
    }

    /// A malformed chunked request body: 400 unless a response is already under way, then close.
    func rejectBody() {
        log.log(.info, "client sent invalid chunked body, client: \(remoteIP)", connection: connectionNumber)
        if state.isDiscardingBody || exchange?.responseStarted == true {
            state.close()
            context.close(promise: nil)
            return
        }
        let isHead = exchange?.isHeadRequest ?? false
        let abandoned = exchange
        if let exchange {
            abandonUpstream(exchange, outcome: .success)
            self.exchange = nil
        }
        respondLocally(status: .badRequest, keepAlive: false, isHead: isHead, exchange: abandoned)
    }
}
