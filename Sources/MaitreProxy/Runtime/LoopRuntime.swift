#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// One configuration's mutable side on one event loop: each upstream's balancer (nginx keeps these per worker;
/// maitred per loop) and its pool of idle connections. This loop's replica of the `UpstreamRegistry`: the
/// registry's admin states and weights are applied to its balancers, whose selections count into the loop's
/// per-record `PeerCounters`. A reload builds a new one that carries passive-health state and idle connections
/// over by peer identity (`PeerCarryOver`); requests in flight finish on the one they started on.
/// Only ever touched on `eventLoop`, so it needs no locks.
final class LoopRuntime {
    let snapshot: ProxySnapshot
    var balancers: [UpstreamBalancer]
    let pools: [UpstreamConnectionPool]
    /// Each upstream's `queue`, nil where it has none.
    let queues: [UpstreamQueue?]
    /// Where each registry record's peer is in `balancers`, for the registry's run-time changes.
    private let placements: [PeerRecordID: (upstream: Int, peer: PeerID)]
    private let eventLoop: any EventLoop

    /// `peers` is the registry's reconcile of `snapshot` (one row per upstream, one entry per peer), `counters`
    /// the loop's cell for a record.
    init(
        snapshot: ProxySnapshot, eventLoop: any EventLoop, peers: ReconciledPeers,
        counters: (PeerRecordID) -> PeerCounters, previous: LoopRuntime? = nil
    ) {
        self.snapshot = snapshot
        self.eventLoop = eventLoop
        var placements: [PeerRecordID: (upstream: Int, peer: PeerID)] = [:]
        var balancers: [UpstreamBalancer] = []
        balancers.reserveCapacity(snapshot.upstreams.count)
        for (index, plan) in snapshot.upstreams.enumerated() {
            // The registry reconciled this very snapshot, so rows line up; a row that does not (a caller bug) leaves
            // the balancer as configured with cells of its own rather than trapping.
            let row = index < peers.upstreams.count && peers.upstreams[index].count == plan.peers.count
                ? peers.upstreams[index] : []
            var balancer = UpstreamBalancer(
                method: plan.method, peers: plan.peers, counters: row.isEmpty ? nil : row.map { counters($0.record) })
            for (position, settings) in row.enumerated() {
                let peer = PeerID(index: position)
                balancer.apply(settings, to: peer)
                placements[settings.record] = (index, peer)
            }
            balancers.append(balancer)
        }
        self.placements = placements
        self.pools = snapshot.upstreams.map {
            UpstreamConnectionPool(
                capacity: $0.upstream.keepalive,
                local: $0.upstream.keepaliveIsLocal,
                idleTimeout: .milliseconds($0.upstream.keepaliveTimeout.milliseconds),
                maxRequests: $0.upstream.keepaliveRequests,
                maxLifetime: .milliseconds($0.upstream.keepaliveTime.milliseconds),
                eventLoop: eventLoop)
        }
        self.queues = snapshot.upstreams.map { plan in
            plan.upstream.queue.map { UpstreamQueue(settings: $0, eventLoop: eventLoop) }
        }
        if let previous {
            for (index, plan) in snapshot.upstreams.enumerated() {
                guard let old = previous.snapshot.upstreamIndex(named: plan.upstream.name, context: plan.upstream.context) else { continue }
                let oldPeers = previous.snapshot.upstreams[old].peers
                balancers[index].inheritState(
                    from: previous.balancers[old], carryOver: PeerCarryOver(from: oldPeers, to: plan.peers))
            }
        }
        self.balancers = balancers
    }

    /// A reload replaced this runtime by `successor`: idle connections of upstreams and peers that stay move
    /// there, and so do connections released later by requests still in flight here.
    func retire(to successor: LoopRuntime) {
        for (index, plan) in snapshot.upstreams.enumerated() {
            guard let next = successor.snapshot.upstreamIndex(named: plan.upstream.name, context: plan.upstream.context) else {
                pools[index].closeAll()
                continue
            }
            let carry = PeerCarryOver(from: plan.peers, to: successor.snapshot.upstreams[next].peers, addressOnly: true)
            var peerIndex: [Int: Int] = [:]
            for (new, old) in carry.previousIndex.enumerated() {
                if let old { peerIndex[old] = new }
            }
            pools[index].retire(to: successor.pools[next], peerIndex: peerIndex)
        }
    }

    /// The registry changed a record's admin state, weight or health verdict: later selections on this runtime
    /// follow it. Older runtimes (requests in flight since a reload, and their retries) keep what they had.
    func apply(_ settings: PeerRuntimeSettings) {
        guard let (upstream, peer) = placements[settings.record] else { return }
        balancers[upstream].apply(settings, to: peer)
        queues[upstream]?.wake()
    }

    /// `least_time`'s current average for the record's peer on this loop (nil for other methods).
    func responseTimeEWMA(_ record: PeerRecordID) -> Double? {
        guard let (upstream, peer) = placements[record] else { return nil }
        return balancers[upstream].responseTimeEWMA(
            of: peer, atMilliseconds: Int64(eventLoop.now.uptimeNanoseconds / 1_000_000))
    }

    /// True when the record's peer is `up` and not check-down, but out by max_fails on this runtime now (nginx
    /// Plus's `unavail`).
    func isPassivelyUnavailable(_ record: PeerRecordID) -> Bool {
        guard let (upstream, peer) = placements[record] else { return false }
        let balancer = balancers[upstream]
        return balancer.adminState(of: peer) == .up && !balancer.isCheckDown(peer)
            && !balancer.isAvailable(peer, now: nowSeconds)
    }

    /// Picks the next peer for a request on the upstream's balancer (nil: "no live upstreams"), on the loop's
    /// clock: whole seconds for `fail_timeout`, milliseconds for `slow_start` ramps.
    func select(upstream: Int, _ selection: inout PeerSelectionState) -> PeerID? {
        let now = eventLoop.now.uptimeNanoseconds
        return balancers[upstream].select(
            &selection, now: Int64(now / 1_000_000_000), nowMilliseconds: Int64(now / 1_000_000))
    }

    /// The request is done with `peer` (see `UpstreamBalancer.release`); a request waiting in the upstream's
    /// queue may take the place it frees. Returns true when the failure disabled the peer.
    /// `attempt` (an http attempt's times) feeds `least_time`'s averages when it succeeded with a response head.
    @discardableResult
    func release(
        _ peer: PeerID, upstream: Int, _ selection: inout PeerSelectionState, outcome: PeerOutcome,
        attempt: AttemptRecord? = nil
    ) -> Bool {
        if case .leastTime = balancers[upstream].method {
            let sample = outcome == .success ? attempt.flatMap { attempt -> LeastTimeSample? in
                // nginx's http module learns nothing from an attempt without a response head.
                guard attempt.headerNanoseconds >= 0 else { return nil }
                return LeastTimeSample(
                    header: attempt.headerNanoseconds / 1_000_000,
                    lastByte: max(attempt.responseNanoseconds, 0) / 1_000_000)
            } : nil
            finishLeastTime(peer, upstream: upstream, &selection, sample: sample, startedAt: attempt?.startedAt)
        }
        let disabled = balancers[upstream].release(peer, &selection, outcome: outcome, now: nowSeconds)
        if let queue = queues[upstream] {
            if outcome == .success { queue.upstreamReached() }
            queue.wake()
        }
        return disabled
    }

    /// `least_time`: an attempt that began at `startedAt` (the loop's clock, ns) is over; `sample` when it
    /// succeeded. Stream sessions call this before their release; http's `release(…attempt:)` does.
    func finishLeastTime(
        _ peer: PeerID, upstream: Int, _ selection: inout PeerSelectionState, sample: LeastTimeSample?,
        startedAt: Int64?
    ) {
        let now = Int64(eventLoop.now.uptimeNanoseconds)
        balancers[upstream].leastTimeFinished(
            peer, &selection, sample: sample, elapsed: startedAt.map { max(0, now - $0) / 1_000_000 } ?? 0,
            milliseconds: now / 1_000_000)
    }

    /// The attempt reached a step `least_time … inflight` may measure (connected, header or first byte), `value`
    /// ms after it began.
    func leastTimeReached(
        _ step: LeastTimeMeasure, _ peer: PeerID, upstream: Int, _ selection: inout PeerSelectionState, value: Int64
    ) {
        guard case .leastTime = balancers[upstream].method else { return }
        balancers[upstream].leastTimeReached(
            step, peer, &selection, value: value, milliseconds: Int64(eventLoop.now.uptimeNanoseconds / 1_000_000))
    }

    /// The response head came (`least_time header inflight` learns it now).
    func responseHeader(_ peer: PeerID, upstream: Int, _ selection: inout PeerSelectionState, attempt: AttemptRecord?) {
        guard let attempt, attempt.headerNanoseconds >= 0 else { return }
        leastTimeReached(.header, peer, upstream: upstream, &selection, value: attempt.headerNanoseconds / 1_000_000)
    }

    /// A completed attempt's times, for `least_time` (ignored by the other methods).
    func observeResponse(_ peer: PeerID, upstream: Int, attempt: AttemptRecord?) {
        guard let attempt, case .randomTwoLeastTime = balancers[upstream].method else { return }
        balancers[upstream].observeResponse(
            peer, headerNanoseconds: attempt.headerNanoseconds, lastByteNanoseconds: attempt.responseNanoseconds,
            milliseconds: Int64(eventLoop.now.uptimeNanoseconds / 1_000_000))
    }

    /// Starts a request on an upstream's balancer. The client key is asked for only by a method that hashes it
    /// (ip_hash).
    /// The `hash` key is asked for only by the hash methods.
    func startRequest(
        upstream: Int, client: @autoclosure () -> ClientAddressKey, hashKey: @autoclosure () -> [UInt8] = [],
        nextUpstreamTries: Int
    ) -> PeerSelectionState {
        let method = balancers[upstream].method
        let key = method == .ipHash ? client() : .other
        return balancers[upstream].startRequest(
            client: key, hashKey: method.usesHashKey ? hashKey() : [], nextUpstreamTries: nextUpstreamTries)
    }

    /// Whole seconds, as nginx's `ngx_time()` counts `fail_timeout`, but read from the loop's monotonic clock: a
    /// wall-clock step cannot bring a failed peer back early or keep it out for longer, and tests drive it with
    /// an EmbeddedEventLoop's virtual time.
    var nowSeconds: Int64 { Int64(eventLoop.now.uptimeNanoseconds / 1_000_000_000) }

    func closeIdleConnections() {
        for pool in pools { pool.closeAll() }
    }
}

@available(*, unavailable)
extension LoopRuntime: Sendable {}

/// The `Date` header value, formatted at most once a second per loop.
final class HTTPDateCache {
    private var second: time_t = 0
    private var cached = ""

    var current: String {
        let now = time(nil)
        if now != second {
            second = now
            cached = Self.format(now)
        }
        return cached
    }

    static func format(_ t: time_t) -> String {
        var t = t
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

@available(*, unavailable)
extension HTTPDateCache: Sendable {}
