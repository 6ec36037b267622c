import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore
import NIOHTTP1
import NIOPosix

/// Responses of maitred's own, the end of every response, and the connection's timers.
extension HTTPProxyHandler {
    // MARK: - Local responses

    func respondReturn(
        _ action: ReturnAction, variables: RequestVariables, settings: ProxySettings, requestHost: String?,
        keepAlive: Bool, isHead: Bool
    ) {
        let status = HTTPResponseStatus(statusCode: action.status)
        let text = action.text.map { variables.evaluate($0) }
        switch action.status {
        case 444, 408:
            // nginx's "close the connection without a response" (logged with the code).
            dropConnection(status: action.status)
        case 494 where text == nil:
            respondLocally(status: .badRequest, keepAlive: keepAlive, isHead: isHead, body: ErrorPages.headerTooLarge)
        case 301, 302, 303, 307, 308:
            respondLocally(status: status, keepAlive: keepAlive, isHead: isHead,
                           location: absoluteLocation(text ?? "", settings: settings, requestHost: requestHost,
                                                      serverName: variables.serverName))
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

    /// The upstream check module's status page: GET and HEAD only (405 otherwise, as the module answers).
    func respondCheckStatus(
        _ configured: CheckStatusFormat, query: String?, method: RequestRecord.Method, keepAlive: Bool, isHead: Bool
    ) {
        guard method == .get || method == .head else {
            respondLocally(status: .methodNotAllowed, keepAlive: keepAlive, isHead: isHead)
            return
        }
        let (format, filter) = CheckStatusPage.options(query: query, default: configured)
        let status = loop.registry?.checkStatus() ?? (rows: [], generation: 0)
        respondLocally(
            status: .ok, keepAlive: keepAlive, isHead: isHead,
            body: CheckStatusPage.body(status.rows, format: format, filter: filter, generation: status.generation),
            contentType: CheckStatusPage.contentType(format))
    }

    /// nginx's stub_status page: every loop's counters summed, in nginx's exact text.
    func respondStubStatus(method: RequestRecord.Method, keepAlive: Bool, isHead: Bool) {
        guard method == .get || method == .head else {
            respondLocally(status: .methodNotAllowed, keepAlive: keepAlive, isHead: isHead)
            return
        }
        respondLocally(
            status: .ok, keepAlive: keepAlive, isHead: isHead,
            body: ConnectionStatsTable.stubStatusBody(loop.statsTable.totals), contentType: "text/plain")
    }

    /// nginx's `absolute_redirect` (on by default): a Location of maitred's own that starts with `/` becomes
    /// `http://HOST[:PORT]/…`. HOST is the request's Host name (`server_name_in_redirect on`: the server's first
    /// name; no Host: the local address), PORT the listening port unless it is 80 or `port_in_redirect` is off.
    func absoluteLocation(_ location: String, settings: ProxySettings, requestHost: String?, serverName: String) -> String {
        guard settings.absoluteRedirect, location.utf8.first == UInt8(ascii: "/") else { return location }
        var host = settings.serverNameInRedirect ? serverName : (requestHost ?? addresses.localIP)
        if host.contains(":") { host = "[\(host)]" }  // an IPv6 local address
        let localPort = addresses.localPort
        let port = !settings.portInRedirect || localPort == "80" || localPort.isEmpty ? "" : ":" + localPort
        return "http://\(host)\(port)\(location)"
    }

    /// Ends the request with no response at all and closes the connection, as nginx ends `return 444` and a
    /// request whose body stopped coming (`client_body_timeout`, logged as 408).
    func dropConnection(status: Int, exchange: ProxyExchange? = nil) {
        responseStatus = status
        responseBodyBytes = 0
        requestEnded(status: status, exchange: exchange, completed: status == 444)
        state.close()
        context.close(promise: nil)
    }

    /// Writes a complete response of maitred's own: an error page unless `body` is given.
    func respondLocally(
        status: HTTPResponseStatus, keepAlive: Bool, isHead: Bool,
        location: String? = nil, body: String? = nil, contentType: String = "text/html",
        exchange: ProxyExchange? = nil
    ) {
        let keepAlive = keepAlive && !Self.closesConnection(status) && state.lifecycle == .open
        let text = body ?? ErrorPages.html(status: status)
        var headers = HTTPHeaders()
        headers.add(name: "Server", value: "maitre")
        headers.add(name: "Date", value: loop.dates.current)
        // A 204 has neither (RFC 9110 §8.6; nginx sends neither).
        let noContent = status == .noContent
        if !noContent {
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: String(text.utf8.count))
        }
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        if let location { headers.add(name: "Location", value: location) }
        let head = HTTPResponseHead(
            version: .http1_1,  // nginx's status line says HTTP/1.1 whatever the client's version
            status: status,
            headers: headers)
        writeHead(head)
        if !isHead, !noContent, !text.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            framing.writeBody(buffer, context: context, promise: nil)
        }
        responseStatus = Int(status.code)
        responseBodyBytes = isHead || noContent ? 0 : text.utf8.count
        requestEnded(status: responseStatus, exchange: exchange, completed: true)
        finishResponse(keepAlive: keepAlive)
    }

    /// The one place where every request ends (answered, failed, cut off or abandoned): its record goes to the
    /// loop's observer, if any, while the head's bytes are still valid.
    func requestEnded(status: Int, exchange: ProxyExchange?, completed: Bool) {
        moveStat(to: .waiting)
        guard let observer = loop.requestEndObserver else { return }
        let server = logServer ?? defaultServer
        observer.requestEnded(RequestEnd(
            serverName: server.primaryName,
            accessLogs: logLocation?.settings.accessLogs ?? server.server.settings.accessLogs,
            connectionNumber: connectionNumber, requestNumber: requestsServed,
            request: exchange?.request ?? currentRequest, status: status, completed: completed,
            startedAt: requestStartedAt, endedAt: clock, bodyBytesSent: responseBodyBytes,
            requestID: requestID,
            requestHeadBytes: (exchange?.request ?? currentRequest)?.headLength ?? 0,
            requestBodyBytes: exchange?.bodyBytesReceived ?? 0,
            upstream: exchange.map { RequestEnd.Upstream(index: $0.upstreamIndex, attempts: $0.state.attempts) },
            addresses: addresses, snapshot: runtime.snapshot, runtime: runtime,
            bytesSent: responseHeadBytes + responseBodyBytes + responseFramingBytes + framing.endBytes,
            sentHead: sentHead))
        sentHead = nil
    }

    /// nginx turns keep-alive off for these error pages (ngx_http_special_response_handler).
    static func closesConnection(_ status: HTTPResponseStatus) -> Bool {
        switch status.code {
        case 400, 408, 413, 414, 495, 496, 497, 500, 501: return true
        default: return false
        }
    }

    func writeHead(_ head: HTTPResponseHead) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        HTTPWire.writeResponseHead(head, into: &buffer)
        responseHeadBytes = buffer.readableBytes
        if runtime.snapshot.logsSentHeaders { sentHead = buffer }
        framing.start(chunkEncode: false)  // maitred's own bodies always carry Content-Length
        context.write(NIOAny(buffer), promise: nil)
    }

    /// Ends the response on the wire; then either closes, or serves what was pipelined behind it.
    func finishResponse(keepAlive: Bool) {
        switch state.responseFinished(keepAlive: keepAlive) {
        case .keepAlive:
            if framing.endBytes == 0, staged != nil {
                // The whole response is one staged buffer (the usual small answer): one trip down the pipeline.
                writeStaged(flushing: true)
            } else {
                writeStaged()
                framing.writeEnd(context: context, promise: nil)
                context.flush()
            }
            unflushedResponse = false
            resumeReads()
            if exchange == nil, !state.isDiscardingBody {
                armIdleTimer(defaultServer.server.settings.keepaliveTimeout)
            }
            // Serves what was pipelined behind (inside processInput this returns and its loop goes on).
            processInput()
        case .close:
            writeStaged()
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

    /// After a local answer to a request whose body is still coming: read it to its end and drop it (a connection
    /// that closes after the answer reads nothing more anyway).
    func discardRequestBody(expected: Bool) {
        guard expected else { return }
        state.discardRestOfBody()
        resumeReads()
    }

    // MARK: - Timers

    /// Starts the idle wait (`client_header_timeout` for a new connection, `keepalive_timeout` between requests)
    /// in the loop's idle deadlines, which look at this connection again no later than the deadline; a busy
    /// keep-alive connection only moves `idleDeadline` per request.
    func armIdleTimer(_ timeout: TimeSpan) {
        guard timeout.milliseconds > 0 else {
            state.close()
            context.close(promise: nil)
            return
        }
        let deadline = loop.eventLoop.now + .milliseconds(timeout.milliseconds)
        idleDeadline = deadline
        loop.idleDeadlines.arm(self, at: deadline)
    }

    /// A request head arrived: the connection is no longer idle (its entry stays queued, see armIdleTimer).
    func disarmIdleTimer() {
        idleDeadline = nil
    }

    /// nginx's reusable connection: waiting for a (first or next) request with nothing received. Closed to make
    /// room when the loop runs out of `worker_connections`; returns whether it was.
    func closeIfIdle() -> Bool {
        guard let context, idleDeadline != nil, exchange == nil, state.isIdle, pending == nil else { return false }
        state.close()
        context.close(promise: nil)
        return true
    }

    func idleDeadlineCameDue() {
        guard context != nil, let deadline = idleDeadline else { return }
        if deadline > loop.eventLoop.now {
            loop.idleDeadlines.arm(self, at: deadline)
        } else if exchange == nil, state.isIdle {
            state.close()
            context.close(promise: nil)
        }
    }

    func armBodyTimer(_ timeout: TimeSpan) {
        bodyTimer?.cancel()
        guard timeout.milliseconds > 0 else { return }
        lastBodyRead = loop.eventLoop.now
        bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(timeout.milliseconds)) {
            [weak self] in
            self?.bodyTimerFired(timeout)
        }
    }

    func bodyTimerFired(_ timeout: TimeSpan) {
        bodyTimer = nil
        if exchange == nil, pendingAPIWrite != nil {
            apiBodyTimerFired(timeout)
            return
        }
        guard let exchange, !exchange.bodyComplete else { return }
        let interval = TimeAmount.milliseconds(timeout.milliseconds)
        let now = loop.eventLoop.now
        // nginx's client_body_timeout runs between two successive reads: due `interval` after the last one. While
        // reads are paused for the upstream (back-pressure) it does not run at all; `resumeReads` restarts it.
        let wait = readsPaused ? interval : lastBodyRead + interval - now
        if wait > .zero {
            bodyTimer = context.eventLoop.assumeIsolated().scheduleTask(in: wait) { [weak self] in
                self?.bodyTimerFired(timeout)
            }
            return
        }
        log.log(.info, "client timed out (110: Connection timed out) while reading client request body"
                + describe(exchange), connection: connectionNumber)
        let responseStarted = exchange.responseStarted  // before abandoning, which ends the exchange's phase
        abandonUpstream(exchange, outcome: .success)
        self.exchange = nil
        if responseStarted {
            requestEnded(status: responseStatus, exchange: exchange, completed: false)
            state.close()
            context.close(promise: nil)
        } else {
            dropConnection(status: 408, exchange: exchange)  // nginx sends no 408: it logs one and closes
        }
    }
}
