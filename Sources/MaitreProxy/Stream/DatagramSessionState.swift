/// One UDP session's life, as nginx's stream proxy runs it for `listen … udp`: a client's datagrams go to one
/// server over one socket, its answers come back, and the session ends once `proxy_responses` answers per
/// datagram arrived, or at `proxy_timeout`. An error from the server before any answer (ICMP port unreachable)
/// tries the next server, as nginx does when nothing was received yet. Pure: events in, actions out.
struct DatagramSessionState {
    enum Phase: Equatable {
        case connecting
        case relaying
        case finished(status: Int)
    }

    enum Action: Equatable {
        /// Select a server and open the session's socket to it.
        case connect
        /// Keep the datagram until the socket is open.
        case queue
        /// Send the datagram (or, after `connected`, the queued ones) to the server.
        case forwardToUpstream
        case sendQueued
        /// Send the server's datagram to the client.
        case forwardToClient
        /// `proxy_requests` reached: the client's next datagram starts a new session.
        case unbind
        case finish(status: Int)
    }

    /// `proxy_responses` (nil: not limited, the session lasts until `proxy_timeout`).
    let expectedResponses: Int?
    /// `proxy_requests` (0: not limited).
    let requestLimit: Int
    private(set) var phase = Phase.connecting
    /// Datagrams from the client, and from the server.
    private(set) var requests = 0
    private(set) var responses = 0

    init(expectedResponses: Int?, requestLimit: Int) {
        self.expectedResponses = expectedResponses
        self.requestLimit = requestLimit
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    mutating func start(hasUpstream: Bool) -> [Action] {
        guard hasUpstream else { return finish(500) }
        return [.connect]
    }

    mutating func noServer() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(502)
    }

    /// `return`: the text went back; the session ends with 200.
    mutating func returned() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(200)
    }

    mutating func forbidden() -> [Action] {
        guard phase == .connecting else { return [] }
        return finish(403)
    }

    /// A datagram from the client.
    mutating func clientDatagram() -> [Action] {
        guard !isFinished else { return [] }
        requests += 1
        var actions: [Action] = [phase == .connecting ? .queue : .forwardToUpstream]
        if requestLimit > 0 && requests == requestLimit { actions.append(.unbind) }
        return actions + evaluate()
    }

    mutating func connected() -> [Action] {
        guard phase == .connecting else { return [] }
        phase = .relaying
        return [.sendQueued] + evaluate()
    }

    /// A datagram from the server.
    mutating func upstreamDatagram() -> [Action] {
        guard phase == .relaying else { return [] }
        responses += 1
        return [.forwardToClient] + evaluate()
    }

    /// The server's socket failed (a connect error, or ICMP unreachable reported on it). Before any answer this is
    /// nginx's next upstream (`retry` says whether one may be tried); after one, the session waits for its end.
    mutating func upstreamFailed(retry: StreamSessionState.RetryInputs) -> [Action] {
        guard !isFinished, responses == 0 else { return [] }
        guard retry.allowsAnother else { return finish(502) }
        phase = .connecting
        return [.connect]
    }

    /// `proxy_timeout` with no datagram either way: 200 when every expected answer came ("udp timed out"),
    /// 502 otherwise ("upstream timed out").
    mutating func timedOut() -> [Action] {
        guard !isFinished else { return [] }
        guard let expected = expectedResponses else { return finish(200) }
        return finish(responses >= expected * requests && phase == .relaying ? 200 : 502)
    }

    /// The listening socket closed (stop, or a reload that dropped it).
    mutating func listenerClosed() -> [Action] {
        guard !isFinished else { return [] }
        return finish(200)
    }

    /// ngx_stream_proxy_test_finalize for UDP.
    private mutating func evaluate() -> [Action] {
        guard phase == .relaying, requests > 0 else { return [] }
        if requestLimit > 0 && requests < requestLimit { return [] }
        guard let expected = expectedResponses, responses >= expected * requests else { return [] }
        return finish(200)
    }

    private mutating func finish(_ status: Int) -> [Action] {
        phase = .finished(status: status)
        return [.finish(status: status)]
    }
}
