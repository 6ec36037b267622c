import MaitreBalancing
import MaitreConfig

/// One proxied request's upstream side, from the first selection to the end of the response: which peer it is
/// on, whether the response reached the client, nginx's retry decisions (through `RetryPolicy`) and the record of
/// every attempt. Pure: events come in with the time they happened, actions go out, and the handler
/// (`HTTPProxyHandler+Upstream.swift`) runs them. `Connection` is generic so the machine is tested without
/// sockets. An event that does not fit the phase (a connect completing after the exchange moved on) gets an
/// action that undoes nothing and gives back what it brought, never a trap.
struct ExchangeState<Connection: AnyObject> {
    enum Phase {
        /// Choosing a peer: the first attempt, or the next after a failed or refused one.
        case selecting
        /// Waiting in the upstream's `queue` for a server to take it.
        case queued
        /// Connecting to the peer; a connection released to it meanwhile is taken instead.
        case connecting(PeerID)
        /// The request is going out on the connection; no response head accepted yet.
        case awaitingHead(PeerID, Connection, reused: Bool)
        /// The response head went to the client, which can no longer be given another answer.
        case responding(PeerID, Connection)
        /// Over: answered, failed with an answer of maitred's own, or abandoned.
        case finished
    }

    /// What the request allows, fixed when it starts.
    struct Terms {
        var conditions: NextUpstreamConditions
        /// `proxy_next_upstream_timeout` (0: none).
        var timeoutMilliseconds: Int64
        var isIdempotent: Bool
        /// The upstream has a `queue`: a request no server takes waits there instead of failing.
        var queues = false
    }

    private(set) var phase: Phase = .selecting
    /// The balancer's per-request state (tries left, peers tried); the balancer mutates it in place.
    var balancing: PeerSelectionState
    /// Every attempt, in order: nginx's `$upstream_addr`, `$upstream_status` and timing lists.
    private(set) var attempts = AttemptLog()

    /// Bytes of the current attempt, for the `$upstream_bytes_*` variables: sent upstream, received from it, and
    /// of those the response body's.
    mutating func countBytes(sent: Int = 0, received: Int = 0, body: Int = 0) {
        attempts.updateLast { attempt in
            attempt.bytesSent += sent
            attempt.bytesReceived += received
            attempt.responseLength += body
        }
    }
    /// Bytes of this request went to some upstream (nginx's `request_sent`).
    private(set) var requestSent = false
    /// False once request body bytes were let go after sending: the request cannot be sent again.
    private(set) var canReplay = true
    let terms: Terms
    /// When the request started (nanoseconds of the loop's clock), for `proxy_next_upstream_timeout`.
    let startedAt: Int64
    /// When the request first entered the upstream's queue: its time there counts from it, however often it
    /// comes back.
    private(set) var firstQueuedAt: Int64?
    /// The last attempt failed before a connection was made: nothing reached the server, so the request may go
    /// back to the queue whatever its method.
    private var failedConnecting = false

    init(balancing: PeerSelectionState, terms: Terms, startedAt: Int64) {
        self.balancing = balancing
        self.terms = terms
        self.startedAt = startedAt
    }

    // MARK: - Queries

    var connection: Connection? {
        switch phase {
        case .awaitingHead(_, let connection, _), .responding(_, let connection): return connection
        case .selecting, .queued, .connecting, .finished: return nil
        }
    }

    var peer: PeerID? {
        switch phase {
        case .connecting(let peer), .awaitingHead(let peer, _, _), .responding(let peer, _): return peer
        case .selecting, .queued, .finished: return nil
        }
    }

    var isQueued: Bool {
        if case .queued = phase { return true }
        return false
    }

    var isResponding: Bool {
        if case .responding = phase { return true }
        return false
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// Connecting to `peerIndex`: a connection to it released meanwhile is welcome.
    func isConnecting(toPeer peerIndex: Int) -> Bool {
        if case .connecting(let peer) = phase { return peer.index == peerIndex }
        return false
    }

    // MARK: - Events

    enum Start {
        /// Send the request on this connection from the pool.
        case send(Connection)
        /// Open a connection to the peer.
        case connect(PeerID)
        /// Not selecting: nothing to do (the selected peer must be released by the caller).
        case ignore
    }

    /// The balancer chose `peer`; `pooled` is the pool's idle connection to it, if any.
    mutating func peerSelected(_ peer: PeerID, pooled: Connection?, now: Int64) -> Start {
        guard case .selecting = phase else { return .ignore }
        attempts.append(AttemptRecord(peer: peer, startedAt: now))
        if let pooled {
            requestSent = true
            attempts.updateLast { $0.connectNanoseconds = 0 }
            phase = .awaitingHead(peer, pooled, reused: true)
            return .send(pooled)
        }
        phase = .connecting(peer)
        return .connect(peer)
    }

    enum Arrival {
        case send(Connection)
        /// Nobody here wants it any more: back to the pool.
        case giveBack(Connection)
    }

    /// A connection to `peerIndex` is ready: the one this exchange opened (`reused` false) or one the pool handed
    /// over while it was connecting (`reused` true).
    mutating func connectionArrived(_ connection: Connection, peerIndex: Int, reused: Bool, now: Int64) -> Arrival {
        guard case .connecting(let peer) = phase, peer.index == peerIndex else { return .giveBack(connection) }
        requestSent = true
        attempts.updateLast { $0.connectNanoseconds = now - $0.startedAt }
        phase = .awaitingHead(peer, connection, reused: reused)
        return .send(connection)
    }

    /// Sent request body bytes were let go to keep memory bounded.
    mutating func replayBufferDropped() {
        canReplay = false
    }

    enum Failed {
        /// Already over.
        case ignore
        /// A pooled connection the upstream had closed: the same peer on a fresh connection, no failure counted.
        case reconnect(PeerID, closing: Connection?)
        /// Release the peer with a failure, then ask `decideAfterRelease`.
        case releaseFailedPeer(PeerID?, closing: Connection?)
        /// The response is under way: the client can only be cut off.
        case cutOff(PeerID, closing: Connection)
    }

    /// The attempt failed: connect or transport error, timeout, or an unusable response head.
    mutating func attemptFailed(_ failure: RetryPolicy.Failure, now: Int64) -> Failed {
        switch phase {
        case .finished:
            return .ignore
        case .responding(let peer, let connection):
            phase = .finished
            attempts.updateLast { $0.finish(at: now) }
            return .cutOff(peer, closing: connection)
        case .selecting, .queued:
            failedConnecting = false
            return .releaseFailedPeer(nil, closing: nil)
        case .connecting(let peer):
            attempts.updateLast { $0.fail(failure, at: now) }
            phase = .selecting
            failedConnecting = true
            return .releaseFailedPeer(peer, closing: nil)
        case .awaitingHead(let peer, let connection, let reused):
            failedConnecting = false
            attempts.updateLast { $0.fail(failure, at: now) }
            if RetryPolicy.retriesOnFreshConnection(failure, retryAttempt(reused: reused, now: now)) {
                attempts.append(AttemptRecord(peer: peer, startedAt: now))
                phase = .connecting(peer)
                return .reconnect(peer, closing: connection)
            }
            phase = .selecting
            return .releaseFailedPeer(peer, closing: connection)
        }
    }

    enum AfterRelease: Equatable {
        case nextPeer
        /// Back to the upstream's queue (the handler enqueues it, or fails it when the queue refuses).
        case queue
        case fail(status: Int)
    }

    /// After `releaseFailedPeer` (the balancer has counted the failure and the try): the next peer, the queue
    /// (when nginx would give up on an attempt that never connected), or an error page of maitred's own.
    mutating func decideAfterRelease(_ failure: RetryPolicy.Failure, now: Int64) -> AfterRelease {
        guard case .selecting = phase else { return .fail(status: 502) }
        switch RetryPolicy.afterFailure(failure, retryAttempt(reused: false, now: now)) {
        case .nextPeer:
            return .nextPeer
        case .fail(let status):
            if failedConnecting, mayQueue {
                enterQueue(now: now)
                return .queue
            }
            phase = .finished
            return .fail(status: status)
        }
    }

    /// No peer could be selected ("no live upstreams"): true when the request goes to the queue, false when it
    /// is over.
    mutating func noLivePeer(now: Int64) -> Bool {
        guard case .selecting = phase else { return false }
        if mayQueue {
            enterQueue(now: now)
            return true
        }
        phase = .finished
        return false
    }

    /// The queue let the request out: selection starts afresh (every server may be tried again), with `balancing`
    /// from the balancer.
    mutating func leftQueue(balancing: PeerSelectionState) {
        guard case .queued = phase else { return }
        self.balancing = balancing
        phase = .selecting
    }

    /// The queue refused the request (full, or its time there is over), or it timed out waiting.
    mutating func queueGaveUp() {
        guard case .queued = phase else { return }
        phase = .finished
    }

    /// The upstream queues and the request may be sent again: nothing of it reached a server, or what did may
    /// be repeated under `proxy_next_upstream`'s rules (an idempotent method, or `non_idempotent`).
    private var mayQueue: Bool {
        guard terms.queues, canReplay else { return false }
        return !requestSent || terms.isIdempotent || terms.conditions.contains(.nonIdempotent)
    }

    private mutating func enterQueue(now: Int64) {
        if firstQueuedAt == nil { firstQueuedAt = now }
        phase = .queued
    }

    enum Head {
        case ignore
        /// `proxy_next_upstream` lists the status: close the connection, release the peer with `outcome`, select
        /// the next. The response never reaches the client.
        case refuse(PeerID, closing: Connection, outcome: PeerOutcome)
        /// Write the head to the client, then call `responseHeadForwarded`.
        case forward
    }

    /// A response head with `status` arrived.
    mutating func responseHead(status: Int, now: Int64) -> Head {
        guard case .awaitingHead(let peer, let connection, let reused) = phase else { return .ignore }
        attempts.updateLast {
            $0.status = status
            $0.headerNanoseconds = now - $0.startedAt
        }
        if RetryPolicy.retriesStatus(status, conditions: terms.conditions, retryAttempt(reused: reused, now: now)) {
            attempts.updateLast { $0.responseNanoseconds = now - $0.startedAt }
            phase = .selecting
            // nginx does not count 403 and 404 as failures of the server (ngx_http_upstream_next).
            return .refuse(peer, closing: connection, outcome: status == 403 || status == 404 ? .success : .failure)
        }
        return .forward
    }

    /// The head is on its way to the client.
    mutating func responseHeadForwarded() {
        guard case .awaitingHead(let peer, let connection, _) = phase else { return }
        phase = .responding(peer, connection)
    }

    enum End {
        case ignore
        /// Release the peer with success; the connection goes back to the pool when it may be kept.
        case complete(PeerID, Connection)
    }

    /// The upstream's response ended as framed.
    mutating func responseEnded(now: Int64) -> End {
        guard case .responding(let peer, let connection) = phase else { return .ignore }
        attempts.updateLast { $0.finish(at: now) }
        phase = .finished
        return .complete(peer, connection)
    }

    /// The exchange ends early (client gone, body refused, no connection slot): what to release and close.
    mutating func abandon(now: Int64) -> (peer: PeerID?, connection: Connection?) {
        let held = (peer, connection)
        if case .finished = phase { return (nil, nil) }
        if held.0 != nil { attempts.updateLast { $0.finish(at: now) } }
        phase = .finished
        return held
    }

    private func retryAttempt(reused: Bool, now: Int64) -> RetryPolicy.Attempt {
        RetryPolicy.Attempt(
            conditions: terms.conditions, triesLeft: balancing.triesLeft, canReplay: canReplay,
            requestSent: requestSent, isIdempotent: terms.isIdempotent,
            elapsedMilliseconds: (now - startedAt) / 1_000_000,
            timeoutMilliseconds: terms.timeoutMilliseconds, reusedConnection: reused)
    }
}
