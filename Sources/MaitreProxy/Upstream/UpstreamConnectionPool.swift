import NIOCore

/// Idle keep-alive connections of one upstream on one event loop, as nginx's `keepalive` cache keeps them per
/// worker: at most `capacity` idle between loop turns (the least recently used is closed to make room), each
/// closed after `idleTimeout` (`keepalive_timeout`), once it has carried `maxRequests` (`keepalive_requests`) or
/// once it has been open for `maxLifetime` (`keepalive_time`). The decisions are `UpstreamPoolState`'s; this
/// shell runs them (closes, hand-overs, the expiry timer, the end-of-turn trim).
/// Confined to its event loop: no locks.
final class UpstreamConnectionPool {
    let idleTimeout: TimeAmount
    let maxRequests: Int
    let maxLifetime: TimeAmount
    private let eventLoop: any EventLoop
    private var state: UpstreamPoolState<UpstreamConnection, ProxyExchange>
    private var sweep: Scheduled<Void>?
    /// Open until its configuration is replaced or the process stops.
    private var phase = Phase.open

    private enum Phase {
        case open
        /// Replaced by a reload: connections released here go on to the successor pool under their new peer
        /// index (peers the new configuration dropped have none and are closed).
        case retired(successor: UpstreamConnectionPool, peerIndex: [Int: Int])
        /// Stopping: whatever is released here is closed.
        case closed
    }

    init(
        capacity: Int, local: Bool, idleTimeout: TimeAmount, maxRequests: Int, maxLifetime: TimeAmount,
        eventLoop: any EventLoop
    ) {
        self.idleTimeout = idleTimeout
        self.maxRequests = maxRequests
        self.maxLifetime = maxLifetime
        self.eventLoop = eventLoop
        self.state = UpstreamPoolState(capacity: capacity, local: local)
    }

    /// The most recently used live idle connection to `peerIndex` that a request of the location tagged `tag`
    /// may use, removed from the pool.
    func take(peerIndex: Int, tag: Int) -> UpstreamConnection? {
        let (connection, dead) = state.lease(peer: peerIndex, tag: tag) { $0.isUsable }
        for connection in dead {
            connection.idlePool = nil
            connection.close()
        }
        connection?.idlePool = nil
        return connection
    }

    /// Idle connections held now.
    var idleCount: Int { state.idle.count }

    /// `exchange` is connecting to `peerIndex`: a connection released before its connect completes goes to it.
    func wait(_ exchange: ProxyExchange, peerIndex: Int) {
        guard case .open = phase else { return }
        state.wait(exchange, peer: peerIndex, tag: exchange.location.poolTag)
    }

    func stopWaiting(_ exchange: ProxyExchange, peerIndex: Int) {
        state.stopWaiting(exchange, peer: peerIndex)
    }

    /// Takes back a connection whose exchange completed cleanly (or a connect nobody needs any more): it goes to
    /// a request waiting for this peer, is kept idle, or is closed when it may not be kept.
    func release(_ connection: UpstreamConnection) {
        switch phase {
        case .open:
            break
        case .retired(let successor, let peerIndex):
            guard let index = peerIndex[connection.peerIndex] else {
                connection.close()
                return
            }
            connection.peerIndex = index
            successor.release(connection)
            return
        case .closed:
            connection.close()
            return
        }
        let now = eventLoop.now
        let reusable = connection.isUsable && connection.requestsSent < maxRequests
            && now - connection.openedAt <= maxLifetime  // nginx closes it once strictly older
        let action = state.released(
            connection, peer: connection.peerIndex, tag: connection.poolTag, now: Int64(now.uptimeNanoseconds),
            reusable: reusable,
            stillWaiting: { $0.wantsConnection(toPeer: connection.peerIndex) })
        switch action {
        case .close:
            connection.close()
        case .handOver(let exchange):
            exchange.pooledConnectionArrived(connection)
        case .parked(let scheduleTrim):
            connection.markIdle(now: now)
            connection.idlePool = self
            if scheduleTrim {
                // After the I/O of this loop turn: requests read later in it can still take what was released.
                eventLoop.assumeIsolated().execute { [self] in
                    for surplus in state.trim() {
                        surplus.idlePool = nil
                        surplus.close()
                    }
                }
            }
            scheduleSweepIfNeeded()
        }
    }

    /// A reload replaced this pool: its idle connections to peers that stay move to `successor` (most recently
    /// used kept, within its capacity), the others close, and later releases go there too.
    func retire(to successor: UpstreamConnectionPool, peerIndex: [Int: Int]) {
        phase = .retired(successor: successor, peerIndex: peerIndex)
        sweep?.cancel()
        sweep = nil
        for entry in state.removeAll() {
            let connection = entry.connection
            connection.idlePool = nil
            guard connection.isUsable, let index = peerIndex[connection.peerIndex] else {
                connection.close()
                continue
            }
            connection.peerIndex = index
            successor.release(connection)
        }
    }

    /// Closes every idle connection and every one released from now on (shutdown).
    func closeAll() {
        phase = .closed
        sweep?.cancel()
        sweep = nil
        for entry in state.removeAll() {
            entry.connection.idlePool = nil
            entry.connection.close()
        }
    }

    func forget(_ connection: UpstreamConnection) {
        state.remove(connection)
    }

    private func scheduleSweepIfNeeded() {
        guard sweep == nil, let oldest = state.oldestIdleSince else { return }
        let due = NIODeadline.uptimeNanoseconds(UInt64(oldest)) + idleTimeout
        let delay = max(due - eventLoop.now, .milliseconds(1))
        sweep = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            self?.sweep = nil
            self?.closeExpired()
        }
    }

    private func closeExpired() {
        let now = Int64(eventLoop.now.uptimeNanoseconds)
        for connection in state.expire(now: now, idleTimeout: idleTimeout.nanoseconds) {
            connection.idlePool = nil
            connection.close()
        }
        scheduleSweepIfNeeded()
    }
}

@available(*, unavailable)
extension UpstreamConnectionPool: Sendable {}
