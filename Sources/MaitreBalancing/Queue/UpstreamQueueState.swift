/// One upstream's request queue on one event loop (nginx Plus's `queue N timeout=T`): requests that found no
/// server to take them wait here, first come first served, for at most `timeout` in all. Pure: the caller feeds
/// it times (nanoseconds of the loop's clock) and runs what it answers; `Request` is generic so it is tested
/// without sockets.
///
/// Two ways out besides the timeout: a wake (a peer released a connection, the health check or the operator
/// brought a server back) lets requests out while the balancer finds them a server; a retry tick does the same
/// at `retryInterval`, for what changes without an event (a `fail_timeout` running out, a server that was
/// restarting accepting again). After a request went out and could not even connect (the server is restarting),
/// the queue is *backing off*: one request per tick goes out to test the server, the others stay until a
/// connection succeeds (`upstreamReached`). Without that, every queued request would hammer a closed port at
/// every tick.
public struct UpstreamQueueState<Request: AnyObject> {
    public let capacity: Int
    public let timeoutNanoseconds: Int64
    public let retryIntervalNanoseconds: Int64

    /// A waiting request and when its time in the queue is over.
    public struct Entry {
        public let request: Request
        public let deadline: Int64
    }

    /// In the order requests are let out: the head is the next one offered a server.
    private var entries: [Entry] = []
    /// The last request that went out could not connect: one per tick until one does.
    public private(set) var isBackingOff = false

    /// Caddy's `lb_try_interval` default: a restarting server is tried four times a second.
    public static var defaultRetryIntervalNanoseconds: Int64 { 250_000_000 }

    public init(capacity: Int, timeoutNanoseconds: Int64, retryIntervalNanoseconds: Int64 = Self.defaultRetryIntervalNanoseconds) {
        self.capacity = max(1, capacity)
        self.timeoutNanoseconds = max(0, timeoutNanoseconds)
        self.retryIntervalNanoseconds = max(1_000_000, retryIntervalNanoseconds)
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    public enum Admission: Equatable {
        /// Waiting; it is let out or timed out by `deadline`.
        case queued(deadline: Int64)
        /// `capacity` requests are waiting already.
        case full
        /// Its time in the queue (counted from `firstQueuedAt`) is over.
        case expired
    }

    /// Puts a request at the back. `firstQueuedAt` is when it first entered the queue (a request that went out,
    /// could not connect and comes back keeps its deadline); nil means now.
    public mutating func enqueue(_ request: Request, firstQueuedAt: Int64?, now: Int64) -> Admission {
        let (deadline, overflow) = (firstQueuedAt ?? now).addingReportingOverflow(timeoutNanoseconds)
        let due = overflow ? Int64.max : deadline
        guard now < due else { return .expired }
        guard entries.count < capacity else { return .full }
        entries.append(Entry(request: request, deadline: due))
        return .queued(deadline: due)
    }

    /// Takes a request out (its client went away). False when it was not waiting.
    @discardableResult
    public mutating func remove(_ request: Request) -> Bool {
        guard let index = entries.firstIndex(where: { $0.request === request }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Removes and returns, in queue order, the requests whose deadline has come.
    public mutating func takeExpired(now: Int64) -> [Request] {
        guard entries.contains(where: { $0.deadline <= now }) else { return [] }
        var expired: [Request] = []
        entries.removeAll { entry in
            guard entry.deadline <= now else { return false }
            expired.append(entry.request)
            return true
        }
        return expired
    }

    /// The request offered a server next, if any.
    public var head: Request? { entries.first?.request }

    /// Takes the head out for its turn; while it has it, its place does not count against `capacity` (a request
    /// that fails to connect during its turn comes back at the end).
    public mutating func takeHead() -> Entry? {
        entries.isEmpty ? nil : entries.removeFirst()
    }

    /// The head's turn found no server: it keeps its place at the front.
    public mutating func restoreHead(_ entry: Entry) {
        entries.insert(entry, at: 0)
    }

    /// Whether another request may go out in this wake, `dispatched` having gone out in it already: any number
    /// while the servers accept connections; while backing off, one per retry tick and none on other wakes (a
    /// request that fails to connect in this wake starts the backing off at once).
    public func mayDispatch(after dispatched: Int, onTick: Bool) -> Bool {
        guard !entries.isEmpty else { return false }
        guard isBackingOff else { return true }
        return onTick && dispatched == 0
    }

    /// A request that went out could not connect (it is back in the queue, or failed).
    public mutating func upstreamUnreachable() {
        isBackingOff = true
    }

    /// A connection to the upstream succeeded or a request on it completed.
    public mutating func upstreamReached() {
        isBackingOff = false
    }

    /// When the next tick is due: the retry interval from now, or the earliest deadline when it comes sooner;
    /// nil while nothing waits.
    public func nextTick(now: Int64) -> Int64? {
        guard let earliest = entries.lazy.map(\.deadline).min() else { return nil }
        let (retry, overflow) = now.addingReportingOverflow(retryIntervalNanoseconds)
        return min(earliest, overflow ? Int64.max : retry)
    }
}
