/// The idle keep-alive connections of one upstream on one event loop, and the requests waiting for a connection
/// to a peer while their own connect is under way: a value that takes events and returns what to do, with no I/O
/// and no clock of its own (the shell, `UpstreamConnectionPool`, runs the actions; times are the caller's
/// nanoseconds).
///
/// Two choices differ from a plain LRU cache, both to keep connects rare when many requests start in one loop
/// turn (256 clients against `keepalive 32`):
/// - A connection released while a request waits for its own connect to the same peer goes to that request at
///   once; the connect, when it completes, parks its connection instead (async-http-client's pool does the same).
/// - Going over `capacity` is allowed until the end of the current loop turn: requests read later in the same
///   turn still find the connections released earlier in it. `trim()` then closes the least recently used
///   surplus, so between turns at most `capacity` connections stay idle, as nginx's `keepalive N` keeps them.
///
/// With `keepalive N local` (nginx's default since 1.29.7) a connection is only reused by requests of the
/// location that released it: every connection and waiter carries its location's `tag`, and a `local` pool
/// matches tags as nginx's keepalive module matches `u->conf`.
struct UpstreamPoolState<Connection: AnyObject, Waiter: AnyObject> {
    struct IdleEntry {
        let connection: Connection
        let peer: Int
        let tag: Int
        let since: Int64
    }

    enum ReleaseAction {
        /// Give the connection to this waiting request.
        case handOver(Waiter)
        /// Kept idle; when `scheduleTrim`, the shell runs `trim()` once the current loop turn is over.
        case parked(scheduleTrim: Bool)
        /// Not kept (pooling off, or the connection may not be reused): close it.
        case close
    }

    let capacity: Int
    /// Connections are reused only by requests with the same tag (`keepalive N local`).
    let local: Bool
    /// Least recently used first.
    private(set) var idle: [IdleEntry] = []
    struct Waiting {
        let waiter: Waiter
        let tag: Int
    }

    /// Per peer, oldest first: requests whose connect is under way, with their tag. A queue is always taken out
    /// of the dictionary before it is changed (`removeValue`), so the change happens in place: changing a copy
    /// read with `waiters[peer]` would copy the whole queue on every release while hundreds wait (a burst of
    /// 256 clients against `keepalive 32`).
    private var waiters: [Int: [Waiting]] = [:]
    private var trimPending = false

    init(capacity: Int, local: Bool = false) {
        self.capacity = max(0, capacity)
        self.local = local
    }

    var waitingCount: Int { waiters.values.reduce(0) { $0 + $1.count } }

    /// The most recently used idle connection to `peer` that a request tagged `tag` may use, taken out;
    /// `isLive` rejects (and hands back for closing) connections that died while idle.
    mutating func lease(peer: Int, tag: Int, isLive: (Connection) -> Bool) -> (Connection?, dead: [Connection]) {
        var dead: [Connection] = []
        var index = idle.count - 1
        while index >= 0 {
            if idle[index].peer == peer, !local || idle[index].tag == tag {
                let entry = idle.remove(at: index)
                if isLive(entry.connection) { return (entry.connection, dead) }
                dead.append(entry.connection)
            }
            index -= 1
        }
        return (nil, dead)
    }

    /// A request started connecting to `peer`: a connection released meanwhile goes to it.
    mutating func wait(_ waiter: Waiter, peer: Int, tag: Int) {
        waiters[peer, default: []].append(Waiting(waiter: waiter, tag: tag))
    }

    /// The request got a connection (its own or a released one) or gave up.
    mutating func stopWaiting(_ waiter: Waiter, peer: Int) {
        guard var queue = waiters.removeValue(forKey: peer) else { return }
        if let index = queue.firstIndex(where: { $0.waiter === waiter }) { queue.remove(at: index) }
        if !queue.isEmpty { waiters[peer] = queue }
    }

    /// A connection to `peer`, last used by a request tagged `tag`, finished its exchange (or completed a connect
    /// nobody needs any more). `reusable`: the shell's verdict (open, under `keepalive_requests` and
    /// `keepalive_time`, framing intact). `stillWaiting` confirms a waiter still wants a connection; those that do
    /// not are dropped.
    mutating func released(
        _ connection: Connection, peer: Int, tag: Int, now: Int64, reusable: Bool, stillWaiting: (Waiter) -> Bool
    ) -> ReleaseAction {
        guard reusable else { return .close }
        // Most releases find nobody waiting: skip the dictionary lookup then.
        if !waiters.isEmpty, var queue = waiters.removeValue(forKey: peer) {
            var index = 0
            var taker: Waiter?
            while index < queue.count {
                let entry = queue[index]
                if local, entry.tag != tag {
                    index += 1
                    continue
                }
                queue.remove(at: index)
                if stillWaiting(entry.waiter) {
                    taker = entry.waiter
                    break
                }
            }
            if !queue.isEmpty { waiters[peer] = queue }
            if let taker { return .handOver(taker) }
        }
        guard capacity > 0 else { return .close }
        idle.append(IdleEntry(connection: connection, peer: peer, tag: tag, since: now))
        if idle.count > capacity, !trimPending {
            trimPending = true
            return .parked(scheduleTrim: true)
        }
        return .parked(scheduleTrim: false)
    }

    /// End of the loop turn: the least recently used connections beyond `capacity`, taken out for closing.
    mutating func trim() -> [Connection] {
        trimPending = false
        let surplus = idle.count - capacity
        guard surplus > 0 else { return [] }
        let closing = idle.prefix(surplus).map(\.connection)
        idle.removeFirst(surplus)
        return closing
    }

    /// Connections idle since `now - idleTimeout` or earlier, taken out for closing.
    mutating func expire(now: Int64, idleTimeout: Int64) -> [Connection] {
        var expired: [Connection] = []
        while let first = idle.first, first.since + idleTimeout <= now {
            expired.append(first.connection)
            idle.removeFirst()
        }
        return expired
    }

    /// When the oldest idle connection went idle, for the expiry timer.
    var oldestIdleSince: Int64? { idle.first?.since }

    /// A connection closed while idle (by the upstream, or stray bytes): forget it.
    mutating func remove(_ connection: Connection) {
        idle.removeAll { $0.connection === connection }
    }

    /// Everything idle, taken out (reload hand-over or shutdown); waiters are forgotten.
    mutating func removeAll() -> [IdleEntry] {
        let all = idle
        idle.removeAll()
        waiters.removeAll()
        trimPending = false
        return all
    }
}
