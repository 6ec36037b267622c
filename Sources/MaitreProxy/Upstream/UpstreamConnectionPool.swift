import NIOCore

/// Idle keep-alive connections of one upstream on one event loop, as nginx's `keepalive` cache keeps them per
/// worker: at most `capacity` idle connections (the least recently used is closed to make room), each closed
/// after `idleTimeout` (`keepalive_timeout`), once it has carried `maxRequests` (`keepalive_requests`) or once it
/// has been open for `maxLifetime` (`keepalive_time`).
/// Confined to its event loop: no locks.
final class UpstreamConnectionPool {
    let capacity: Int
    let idleTimeout: TimeAmount
    let maxRequests: Int
    let maxLifetime: TimeAmount
    private let eventLoop: any EventLoop
    /// Most recently used last.
    private var idle: [UpstreamConnection] = []
    private var sweep: Scheduled<Void>?
    /// Open until its configuration is replaced or the process stops.
    private var state = State.open

    private enum State {
        case open
        /// Replaced by a reload: connections released here go on to the successor pool under their new peer
        /// index (peers the new configuration dropped have none and are closed).
        case retired(successor: UpstreamConnectionPool, peerIndex: [Int: Int])
        /// Stopping: whatever is released here is closed.
        case closed
    }

    init(capacity: Int, idleTimeout: TimeAmount, maxRequests: Int, maxLifetime: TimeAmount, eventLoop: any EventLoop) {
        self.capacity = capacity
        self.idleTimeout = idleTimeout
        self.maxRequests = maxRequests
        self.maxLifetime = maxLifetime
        self.eventLoop = eventLoop
        idle.reserveCapacity(min(capacity, 64))
    }

    /// The most recently used live idle connection to `peerIndex`, removed from the pool.
    func take(peerIndex: Int) -> UpstreamConnection? {
        var i = idle.count - 1
        while i >= 0 {
            let connection = idle[i]
            if connection.peerIndex == peerIndex {
                idle.remove(at: i)
                connection.idlePool = nil
                if connection.isUsable { return connection }
                connection.close()
            }
            i -= 1
        }
        return nil
    }

    /// Keeps a connection whose exchange completed cleanly, or closes it when it may not be kept.
    func release(_ connection: UpstreamConnection) {
        switch state {
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
        let now = NIODeadline.now()
        guard capacity > 0, connection.isUsable, connection.requestsSent < maxRequests,
            now - connection.openedAt < maxLifetime
        else {
            connection.close()
            return
        }
        if idle.count >= capacity {
            let oldest = idle.removeFirst()
            oldest.idlePool = nil
            oldest.close()
        }
        connection.markIdle(now: now)
        connection.idlePool = self
        idle.append(connection)
        scheduleSweepIfNeeded()
    }

    /// A reload replaced this pool: its idle connections to peers that stay move to `successor` (most recently
    /// used kept, within its capacity), the others close, and later releases go there too.
    func retire(to successor: UpstreamConnectionPool, peerIndex: [Int: Int]) {
        state = .retired(successor: successor, peerIndex: peerIndex)
        sweep?.cancel()
        sweep = nil
        let all = idle
        idle.removeAll()
        for connection in all {
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
        state = .closed
        sweep?.cancel()
        sweep = nil
        let all = idle
        idle.removeAll()
        for connection in all {
            connection.idlePool = nil
            connection.close()
        }
    }

    func forget(_ connection: UpstreamConnection) {
        idle.removeAll { $0 === connection }
    }

    private func scheduleSweepIfNeeded() {
        guard sweep == nil, let oldest = idle.first?.idleSince else { return }
        let delay = max(oldest + idleTimeout - .now(), .milliseconds(1))
        sweep = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            self?.sweep = nil
            self?.closeExpired()
        }
    }

    private func closeExpired() {
        let now = NIODeadline.now()
        while let first = idle.first, let since = first.idleSince, since + idleTimeout <= now {
            idle.removeFirst()
            first.idlePool = nil
            first.close()
        }
        scheduleSweepIfNeeded()
    }
}

@available(*, unavailable)
extension UpstreamConnectionPool: Sendable {}
