/// One TCP session's life, as nginx's stream proxy runs it (ngx_stream_proxy_module): choose a server and connect
/// (the next server on a failed connect, within `proxy_next_upstream*`), relay both ways, and end when nginx's
/// `ngx_stream_proxy_test_finalize` would. Pure: events in, actions out; `StreamSession` runs the actions.
///
/// Bytes themselves do not pass through here (they go straight from one channel to the other); the machine sees
/// the events that change what the session is doing: a connect's outcome, an end of input, a direction drained.
struct StreamSessionState {
    enum Phase: Equatable {
        /// Choosing a server and connecting; what the client sends waits (up to `proxy_buffer_size`).
        case connecting
        /// Bytes flow both ways.
        case relaying
        /// Over, with the session's `$status`.
        case finished(status: Int)
    }

    /// One direction of the relay, named by where its bytes go.
    enum Flow: Equatable {
        case open
        /// Its source ended its input; what was read is still being written to the destination.
        case draining
        /// Its source ended and every byte reached the destination.
        case drained
    }

    enum Side: Equatable {
        case client, upstream
    }

    enum Action: Equatable {
        /// Select a server (the balancer decides) and connect to it.
        case connect
        /// Connected: write what the client sent meanwhile and start reading both sides.
        case startRelay
        /// Write everything pending toward `side` and report `drained` when done.
        case drain(toward: Side)
        /// `proxy_half_close`: shut down the write side of the connection to `side`.
        case shutDownOutput(of: Side)
        /// Close both connections; the session's status.
        case finish(status: Int)
    }

    /// What a failed connect may lead to (nginx's ngx_stream_proxy_next_upstream).
    struct RetryInputs: Equatable {
        /// `proxy_next_upstream on`.
        var enabled: Bool
        /// Tries left once the failed server was released.
        var triesLeft: Int
        var elapsedMilliseconds: Int64
        /// `proxy_next_upstream_timeout` (0: none).
        var timeoutMilliseconds: Int64

        /// ngx_stream_proxy_next_upstream: another server may be tried.
        var allowsAnother: Bool {
            enabled && triesLeft > 0 && !(timeoutMilliseconds > 0 && elapsedMilliseconds >= timeoutMilliseconds)
        }
    }

    let halfClose: Bool
    private(set) var phase = Phase.connecting
    /// Bytes from the client to the upstream.
    private(set) var towardUpstream = Flow.open
    /// Bytes from the upstream to the client.
    private(set) var towardClient = Flow.open

    init(halfClose: Bool) {
        self.halfClose = halfClose
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// The session was accepted: connect, or end at once (500) when the server has no `proxy_pass`.
    mutating func start(hasUpstream: Bool) -> [Action] {
        guard hasUpstream else { return finish(500) }
        return [.connect]
    }

    /// `allow` / `deny` refused the client: 403, as nginx's stream access module ends it.
    mutating func forbidden() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(403)
    }

    /// A `listen … proxy_protocol` connection sent no valid header: 400.
    mutating func badHeader() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(400)
    }

    /// `return`: the text was written; the session ends with 200.
    mutating func returned() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(200)
    }

    /// The balancer had no server to give ("no live upstreams"): 502.
    mutating func noServer() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(502)
    }

    /// A connect failed or timed out: the next server, or 502.
    mutating func connectFailed(_ retry: RetryInputs) -> [Action] {
        guard phase == .connecting else { return [] }
        return retry.allowsAnother ? [.connect] : finish(502)
    }

    /// The upstream connection is up: relay, and pass on an end of input the client sent meanwhile.
    mutating func connected() -> [Action] {
        guard phase == .connecting else { return [] }
        phase = .relaying
        var actions: [Action] = [.startRelay]
        if towardUpstream == .draining { actions.append(.drain(toward: .upstream)) }
        return actions + evaluate()
    }

    /// `side` ended its input (EOF, or a read error, which nginx treats as EOF).
    mutating func inputEnded(from side: Side) -> [Action] {
        switch side {
        case .client:
            guard towardUpstream == .open else { return [] }
            towardUpstream = .draining
            // Before the upstream is connected the bytes wait; they are drained once it is.
            if phase == .connecting { return [] }
            return [.drain(toward: .upstream)] + evaluate()
        case .upstream:
            guard phase == .relaying, towardClient == .open else { return [] }
            towardClient = .draining
            return [.drain(toward: .client)] + evaluate()
        }
    }

    /// Everything read from the other side reached `side`.
    mutating func drained(toward side: Side) -> [Action] {
        guard phase == .relaying else { return [] }
        var actions: [Action] = []
        switch side {
        case .upstream:
            guard towardUpstream == .draining else { return [] }
            towardUpstream = .drained
        case .client:
            guard towardClient == .draining else { return [] }
            towardClient = .drained
        }
        if halfClose { actions.append(.shutDownOutput(of: side)) }
        return actions + evaluate()
    }

    /// A write to either side failed (the peer reset it): nginx ends the session with 200.
    mutating func writeFailed() -> [Action] {
        guard !isFinished else { return [] }
        return finish(phase == .connecting ? 502 : 200)
    }

    /// `proxy_timeout` passed with no read or write on either side: 200, as nginx ends a TCP session.
    mutating func timedOut() -> [Action] {
        guard phase == .relaying else { return [] }
        return finish(200)
    }

    /// An internal failure (the upstream channel could not be set up): 500.
    mutating func failed() -> [Action] {
        guard !isFinished else { return [] }
        return finish(500)
    }

    /// ngx_stream_proxy_test_finalize for TCP: over once one side ended and the other direction's bytes are
    /// written (or both sides ended); with `proxy_half_close`, once both directions are drained.
    private mutating func evaluate() -> [Action] {
        guard phase == .relaying else { return [] }
        let clientEnded = towardUpstream != .open
        let upstreamEnded = towardClient != .open
        let done: Bool
        if halfClose {
            done = towardUpstream == .drained && towardClient == .drained
        } else {
            done = (clientEnded && upstreamEnded) || towardUpstream == .drained || towardClient == .drained
        }
        return done ? finish(200) : []
    }

    private mutating func finish(_ status: Int) -> [Action] {
        phase = .finished(status: status)
        return [.finish(status: status)]
    }
}
