/// Where a client connection is, as named states: what its next bytes are (a head or the current request's
/// body, forwarded or thrown away), whether a response is under way, and whether the connection is open, finishing
/// its last request, or closing. Pure: the handler feeds it events and does what the returned actions say; the
/// transitions are tested without sockets (ClientConnectionStateTests).
struct ClientConnectionState: Equatable {
    /// What the client's next bytes are.
    enum Request: Equatable {
        /// A request head (the first, or the next on a keep-alive connection).
        case awaitingHead
        /// The current request's body.
        case body(BodyInput, sink: BodySink)
    }

    enum BodyInput: Equatable {
        case length(remaining: Int)
        case chunked
    }

    /// Where body bytes go.
    enum BodySink: Equatable {
        /// To the exchange (and its upstream).
        case exchange
        /// Nowhere: the request was answered by maitred, the rest of its body is read and dropped.
        case discard
    }

    enum Response: Equatable {
        /// No request is waiting for an answer.
        case none
        /// The current request's answer is not complete on the wire yet (pipelined heads wait).
        case open
    }

    enum Lifecycle: Equatable {
        case open
        /// Reload of a removed listener, or graceful stop: the request under way is answered with
        /// `Connection: close` (a head that arrives now is still served that way), then the connection closes.
        case quiescing
        /// Closing: nothing more is read or answered.
        case closing
    }

    private(set) var request = Request.awaitingHead
    private(set) var response = Response.none
    private(set) var lifecycle = Lifecycle.open

    // MARK: Questions

    /// Waiting for a request with nothing of one under way (nginx's reusable connection): a head may be parsed.
    var isIdle: Bool { lifecycle != .closing && request == .awaitingHead && response == .none }
    var isClosing: Bool { lifecycle == .closing }
    var isQuiescing: Bool { lifecycle == .quiescing }
    /// Body bytes are read and dropped.
    var isDiscardingBody: Bool {
        if case .body(_, sink: .discard) = request { return true }
        return false
    }

    // MARK: Events

    /// A head was parsed and accepted; its body (if any) follows in `framing`.
    mutating func headAccepted(framing: BodyFraming) {
        response = .open
        switch framing {
        case .none: request = .awaitingHead
        case .contentLength(let length): request = .body(.length(remaining: length), sink: .exchange)
        case .chunked: request = .body(.chunked, sink: .exchange)
        }
    }

    /// A head was refused (or failed validation): it is answered, then the connection closes; its body is never
    /// read.
    mutating func headRefused() {
        response = .open
        request = .awaitingHead
    }

    /// `count` bytes of a Content-Length body were read. Returns true when that completed the body.
    mutating func lengthBodyRead(_ count: Int) -> Bool {
        guard case .body(.length(let remaining), let sink) = request else { return false }
        let left = remaining - min(count, remaining)
        request = left == 0 ? .awaitingHead : .body(.length(remaining: left), sink: sink)
        return left == 0
    }

    /// The chunked body's last chunk was read.
    mutating func chunkedBodyEnded() {
        request = .awaitingHead
    }

    /// The request was answered by maitred while its body is still coming: read the rest and drop it.
    mutating func discardRestOfBody() {
        if case .body(let input, _) = request { request = .body(input, sink: .discard) }
    }

    enum FinishAction: Equatable {
        /// Keep the connection: serve what was pipelined, or wait for the next request.
        case keepAlive
        /// Write the end of the response, then close.
        case close
    }

    /// The response is complete (its last bytes are being written). `keepAlive`: the response allowed it.
    mutating func responseFinished(keepAlive: Bool) -> FinishAction {
        response = .none
        guard keepAlive, lifecycle == .open else {
            lifecycle = .closing
            return .close
        }
        return .keepAlive
    }

    enum QuiesceAction: Equatable {
        case closeNow
        case finishFirst
    }

    /// Asked to finish and close (graceful stop, or a reload removed this connection's listener).
    mutating func quiesce() -> QuiesceAction {
        guard lifecycle != .closing else { return .finishFirst }
        if request == .awaitingHead && response == .none {
            lifecycle = .closing
            return .closeNow
        }
        lifecycle = .quiescing
        return .finishFirst
    }

    /// The next response must close the connection (a reload dropped this connection's listener).
    mutating func finishAfterThisRequest() {
        if lifecycle == .open { lifecycle = .quiescing }
    }

    /// The connection is being closed (timeout, error, protocol violation): input is ignored from now on.
    mutating func close() {
        lifecycle = .closing
    }
}
