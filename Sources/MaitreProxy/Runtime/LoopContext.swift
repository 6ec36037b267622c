#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Atomics
import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// What one event loop keeps for the whole life of the process, across reloads: the current configuration's
/// runtime, the client connections it serves, connection numbering, and the scratch and caches its requests
/// share. Client connections hold this, not a configuration: each picks up the current runtime when it starts
/// reading a request, so a reload closes no connection and loses no request (listeners that stay are never
/// closed either). Only ever touched on `eventLoop`.
final class LoopContext {
    let eventLoop: any EventLoop
    let log: ErrorLog
    /// The newest configuration on this loop. Requests in flight keep the runtime they started with.
    private(set) var runtime: LoopRuntime
    let dates = HTTPDateCache()
    let headBuffers = HeadBufferPool()
    let idleDeadlines: IdleDeadlines
    /// The process's upstream registry (the check_status page reads it); nil in tests that build a loop alone.
    weak var registry: UpstreamRegistry?
    /// Told of every request that ends on this loop (`RequestEnd`); nil until something reads them. Held strongly:
    /// it is read at every request's end, where a weak load would cost an atomic side-table access.
    var requestEndObserver: (any RequestEndObserver)?
    /// Where this loop's `$request_id`s come from.
    let requestIDs = RequestIDGenerator.Shared()
    /// nginx's stub_status counters: this loop's cells, and every loop's for the page.
    let stats: ConnectionStats
    let statsTable: ConnectionStatsTable
    /// This loop's access logging; it observes request ends while the configuration has an access log.
    private(set) lazy var accessLogger = AccessLogger(eventLoop: eventLoop)
    /// How upstream connections are opened (sockets; tests inject their own).
    var connector: any UpstreamConnector = SocketConnector()
    /// The parse target for every request head on this loop (parsing is synchronous), so connections hold no
    /// field arrays of their own.
    var requestHead = RequestHead()
    /// Scratch for the `proxy_set_header` values of the request being built.
    var headerValues: [String] = []
    /// Open client connections and the endpoint each was accepted on, for graceful stop and for connections
    /// whose listener a reload removed.
    private(set) var connections: [ObjectIdentifier: (channel: any Channel, endpoint: ListenEndpoint)] = [:]
    /// Graceful stop: new connections are told to finish at once.
    private(set) var quiescing = false
    private var nextConnectionNumber: UInt64
    private let connectionNumberStride: UInt64
    /// Upstream connections open on this loop: they count against `worker_connections` as nginx counts them.
    private(set) var upstreamConnections = 0
    /// When "worker_connections are not enough" was last logged (at most once a second).
    private var shortageLoggedAt: Int64 = 0
    /// `sticky learn` sessions by zone name: the process's, kept across reloads.
    var stickySessions: [String: StickySessionTable] = [:]
    /// Every loop's context (this one's included): where what this loop learns is told.
    var siblings: [NIOLoopBound<LoopContext>] = []
    /// Where `sticky learn … sync` zones tell other instances what this loop learnt (the process's).
    var stickySync: StickySyncClient?
    /// This loop's request counters for every live registry record: they outlive reloads that keep the record,
    /// and the registry sums them over the loops when asked.
    private var peerCounters: [PeerRecordID: PeerCounters] = [:]

    /// UDP sessions running on this loop: each is a connection to nginx.
    private(set) var datagramSessions = 0

    /// Client and upstream connections open on this loop (nginx's used connections, listeners aside).
    var usedConnections: Int { connections.count + upstreamConnections + datagramSessions }

    /// A new UDP client: true when a session fits in `worker_connections` (idle http connections are closed to
    /// make room, as for a TCP connection).
    func admitDatagramSession() -> Bool { admitConnection() }

    func datagramSessionOpened() {
        datagramSessions += 1
        stats.active.wrappingIncrement(ordering: .relaxed)
    }

    func datagramSessionClosed() {
        datagramSessions -= 1
        stats.active.wrappingDecrement(ordering: .relaxed)
    }

    /// nginx's `ngx_get_connection` for a new connection: true when one more fits in `worker_connections`.
    /// At the limit, idle client connections are closed first, as nginx drains reusable ones (up to 32 at a time,
    /// at least one); when none is idle the new connection is refused and the shortage logged.
    func admitConnection() -> Bool {
        let limit = runtime.snapshot.configuration.workerConnections
        guard usedConnections >= limit else { return true }
        let toFree = max(1, min(32, connections.count / 8))
        var freed = 0
        for (channel, _) in connections.values where freed < toFree {
            if let handler = try? channel.pipeline.syncOperations.handler(type: HTTPProxyHandler.self),
                handler.closeIfIdle()
            {
                freed += 1
            }
        }
        let now = Int64(time(nil))
        if now != shortageLoggedAt {
            shortageLoggedAt = now
            if freed > 0 {
                log.log(.warn, "\(limit) worker_connections are not enough, reusing connections")
            } else {
                log.log(.alert, "\(limit) worker_connections are not enough")
            }
        }
        // Closed connections leave `connections` when their close completes, later in this loop turn: what was
        // freed counts now.
        return freed > 0 || usedConnections < limit
    }

    func upstreamConnectionOpened() { upstreamConnections += 1 }
    func upstreamConnectionClosed() { upstreamConnections -= 1 }

    /// `index` of `loopCount`: nginx numbers connections (`*N` in the error log) per process; each loop counts
    /// in its own stride so numbers never repeat, across reloads too.
    /// `peers` is the registry's reconcile of `snapshot`; without one (tests that build a loop alone) the loop
    /// reconciles it against a registry of its own.
    init(
        snapshot: ProxySnapshot, eventLoop: any EventLoop, log: ErrorLog, index: Int, loopCount: Int,
        peers: ReconciledPeers? = nil, statsTable: ConnectionStatsTable? = nil
    ) {
        self.eventLoop = eventLoop
        let table = statsTable ?? ConnectionStatsTable(loopCount: 1)
        self.statsTable = table
        self.stats = table.loops[statsTable == nil ? 0 : min(max(0, index), table.loops.count - 1)]
        self.log = log
        var counters: [PeerRecordID: PeerCounters] = [:]
        var ownRegistry = PeerRegistryState()
        self.runtime = LoopRuntime(
            snapshot: snapshot, eventLoop: eventLoop, peers: peers ?? ownRegistry.reconcile(snapshot.peerLists),
            counters: { Self.cell(for: $0, in: &counters) })
        self.peerCounters = counters
        self.idleDeadlines = IdleDeadlines(eventLoop: eventLoop)
        self.nextConnectionNumber = UInt64(index)
        self.connectionNumberStride = UInt64(max(loopCount, 1))
    }

    func takeConnectionNumber() -> UInt64 {
        nextConnectionNumber += connectionNumberStride
        return nextConnectionNumber
    }

    /// A reload: later requests use `snapshot`; peer state and idle upstream connections carry over by identity.
    /// Connections accepted on an endpoint the new configuration no longer listens on finish their request and
    /// close, as nginx's old workers do.
    /// `peers` is the registry's reconcile of `snapshot`: counters of removed records are dropped here (balancers
    /// still serving requests in flight keep their cells until they finish), and new records get fresh ones.
    func install(_ snapshot: ProxySnapshot, peers: ReconciledPeers) {
        for record in peers.removed {
            peerCounters[record] = nil
        }
        let next = LoopRuntime(
            snapshot: snapshot, eventLoop: eventLoop, peers: peers,
            counters: { Self.cell(for: $0, in: &peerCounters) }, previous: runtime)
        runtime.retire(to: next)
        runtime = next
        for (channel, endpoint) in connections.values
        where snapshot.endpoints[endpoint] == nil && snapshot.streamEndpoints[endpoint] == nil {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Before a configuration is installed: its access-log files, and whether it logs at all (with every log
    /// `off` no request end is built).
    func prepareAccessLogs(_ writers: [String: LogWriter], metrics: Bool = false) {
        accessLogger.add(writers)
        switch (!writers.isEmpty, metrics) {
        case (true, true): requestEndObserver = RequestEndFanout([accessLogger, requestMetrics])
        case (true, false): requestEndObserver = accessLogger
        case (false, true): requestEndObserver = requestMetrics
        case (false, false): requestEndObserver = nil
        }
    }

    /// This loop's request figures for the `metrics` page (recorded while a configuration has such a page).
    let requestMetrics = RequestMetrics()
    /// This loop's upstream connection counts (always kept: a few integer adds per connection).
    let upstreamPoolStats = UpstreamConnectionStats()

    /// The request figures with the pool's, for the `metrics` and `status` pages.
    var metricsSnapshot: RequestMetrics.Snapshot {
        var snapshot = requestMetrics.snapshot
        snapshot.pool = RequestMetrics.PoolFigures(
            created: upstreamPoolStats.created, reused: upstreamPoolStats.reused, open: upstreamConnections,
            idle: runtime.pools.reduce(0) { $0 + $1.idleCount })
        return snapshot
    }

    /// The registry changed a peer: this loop's newest runtime selects accordingly from its next request on.
    func applyPeerSettings(_ settings: PeerRuntimeSettings) {
        runtime.apply(settings)
    }

    /// This loop's counters for `records` (zero for a record this loop has no cell for), and whether max_fails
    /// has each out on this loop now.
    func counterValues(
        for records: [PeerRecordID]
    ) -> [(counters: PeerCounterValues, unavailable: Bool, responseTimeEWMA: Double?)] {
        records.map { record in
            (peerCounters[record]?.values ?? PeerCounterValues(), runtime.isPassivelyUnavailable(record),
             runtime.responseTimeEWMA(record))
        }
    }

    /// The record's cell, made on first use (a record new to this loop).
    private static func cell(for record: PeerRecordID, in cells: inout [PeerRecordID: PeerCounters]) -> PeerCounters {
        if let cell = cells[record] { return cell }
        let cell = PeerCounters()
        cells[record] = cell
        return cell
    }

    func connectionOpened(_ channel: any Channel, endpoint: ListenEndpoint) {
        connections[ObjectIdentifier(channel)] = (channel, endpoint)
        stats.active.wrappingIncrement(ordering: .relaxed)
        if quiescing {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    func connectionClosed(_ channel: any Channel) {
        if connections.removeValue(forKey: ObjectIdentifier(channel)) != nil {
            stats.active.wrappingDecrement(ordering: .relaxed)
        }
    }

    /// Graceful stop: idle upstream connections close, every client connection finishes its request and closes.
    func quiesce() {
        quiescing = true
        runtime.closeIdleConnections()
        for (channel, _) in connections.values {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Fast stop: everything closes now.
    func closeAll() {
        quiescing = true
        runtime.closeIdleConnections()
        for (channel, _) in connections.values { channel.close(promise: nil) }
    }
}

@available(*, unavailable)
extension LoopContext: Sendable {}
