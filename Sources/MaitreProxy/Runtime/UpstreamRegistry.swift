import MaitreBalancing
import MaitreConfig
import NIOConcurrencyHelpers
import NIOCore

/// The process-lifetime registry of upstream peers, one per `ProxyServer`: one record per peer identity (upstream,
/// `server` entry, resolved address) with its admin state and weight, which survive reloads. Every change goes
/// through here: a reload (`install`), and the run-time changes of `setAdminState` / `setWeight` (later: DNS
/// re-resolution, the HTTP API). Each event loop keeps a replica: its runtime's balancers, to which a change is
/// posted with `execute` and applied at the loop's next turn, and its per-record counters, which `peers()` sums by
/// visiting every loop. The lock here is taken by those calls only, never on the request path.
///
/// Ordering: changes are posted to the loops while the lock is held, and a loop runs the tasks posted to it in
/// order, so every loop applies reloads and run-time changes in the order the registry made them.
public final class UpstreamRegistry: Sendable {
    let group: any EventLoopGroup
    /// Internal for the extensions (state files, status reads); only ever used under its lock.
    let state = NIOLockedValueBox(State())
    let log: ErrorLog
    /// Writes upstreams' `state` files off the event loops.
    let stateFileStore: StateFileStore
    /// One probe schedule per checked peer for the whole process; its results come back to `recordProbe`.
    private let checker: HealthChecker

    struct State {
        var records = PeerRegistryState()
        /// The loops' contexts, in the group's order (the order of `PeerStatus.countersByLoop`).
        var loops: [NIOLoopBound<LoopContext>] = []
        /// The checked servers in the status page's order (each upstream's primaries, then its backups).
        var checked: [CheckedServer] = []
        /// What each checked record is probed with now: a verdict for another target (a reload changed the rules
        /// while that probe ran) is dropped.
        var targets: [PeerRecordID: HealthChecker.Target] = [:]
        /// Configurations installed so far (the module's `generation`: 1 after start).
        var generation = 0
        /// Reloads asked for (successful or not), whether the last succeeded, and when the configuration in force
        /// was loaded (wall clock, milliseconds).
        var reloads = 0
        var failedReloads = 0
        var lastReloadSucceeded = true
        var loadedAtMilliseconds = WallClock.nowMilliseconds()
        /// Each record's recent checks and events (status page, API).
        var history: [PeerRecordID: PeerHistory] = [:]
        /// Each upstream's `state` file, for upstreams with one.
        var stateFiles: [String: String] = [:]
        /// The text last read from or written to each state file: an unchanged text is not written again.
        var stateTexts: [String: String] = [:]
    }

    /// A checked server as the status page names it.
    struct CheckedServer {
        let record: PeerRecordID
        let upstream: String
        let type: String
        let port: Int
    }

    init(group: any EventLoopGroup, log: ErrorLog) {
        self.group = group
        self.log = log
        self.stateFileStore = StateFileStore { message in log.log(.error, message) }
        // The checker reports through a weak reference: the registry owns it, not the other way round.
        let registry = NIOLockedValueBox(WeakRegistry())
        self.checker = HealthChecker(group: group) { target, result, elapsed in
            registry.withLockedValue { $0.value }?.recordProbe(target, result, elapsedNanoseconds: elapsed)
        }
        registry.withLockedValue { $0.value = self }
    }

    deinit {
        // Probe schedules keep themselves alive on their loops: a registry dropped without a shutdown stops them.
        checker.stop()
    }

    private struct WeakRegistry {
        weak var value: UpstreamRegistry?
    }

    /// Reconciles the first configuration and builds the loops' contexts with it (`makeLoops` runs under the lock,
    /// so no change can slip in between).
    func start(
        _ snapshot: ProxySnapshot, makeLoops: (ReconciledPeers) throws -> [NIOLoopBound<LoopContext>]
    ) throws -> [NIOLoopBound<LoopContext>] {
        try state.withLockedValue { state in
            let peers = reconcile(snapshot, state: &state)
            let loops = try makeLoops(peers)
            state.loops = loops
            Self.updateChecks(snapshot, peers: peers, state: &state, checker: checker)
            return loops
        }
    }

    /// A reload: reconciles `snapshot` and has every loop install it. The futures complete once each loop has.
    func install(_ snapshot: ProxySnapshot) -> [EventLoopFuture<Void>] {
        state.withLockedValue { state in
            let peers = reconcile(snapshot, state: &state)
            Self.updateChecks(snapshot, peers: peers, state: &state, checker: checker)
            return state.loops.map { bound in
                bound.eventLoop.submit { bound.value.install(snapshot, peers: peers) }
            }
        }
    }

    /// A reload was asked for (SIGHUP): whether it was served. A failed one (bad configuration, a listener that
    /// cannot bind) leaves the configuration in force; the status page and metrics say so.
    public func noteReload(succeeded: Bool) {
        state.withLockedValue { state in
            state.reloads += 1
            if !succeeded { state.failedReloads += 1 }
            state.lastReloadSucceeded = succeeded
            if succeeded { state.loadedAtMilliseconds = WallClock.nowMilliseconds() }
        }
    }

    /// The figures of `noteReload`, and the configuration generation.
    var reloadStatus: MetricsPage.Reloads {
        state.withLockedValue {
            MetricsPage.Reloads(
                reloads: $0.reloads, failed: $0.failedReloads, lastSucceeded: $0.lastReloadSucceeded,
                generation: $0.generation, loadedAtMilliseconds: $0.loadedAtMilliseconds)
        }
    }

    /// What every checked server is probed with now, in the status page's order.
    var currentTargets: [HealthChecker.Target] {
        state.withLockedValue { state in state.checked.compactMap { state.targets[$0.record] } }
    }

    /// Stops every health check (shutdown).
    func stopHealthChecks() {
        checker.stop()
    }

    /// One probe's result. A changed verdict is posted to every loop (under the lock, so in order with reloads and
    /// run-time changes) and logged as the module logs it.
    func recordProbe(_ target: HealthChecker.Target, _ result: ProbeResult, elapsedNanoseconds: Int64 = 0) {
        let record = target.record
        state.withLockedValue { state in
            guard state.targets[record] == target else { return }
            if let line = result.logLine(address: target.addressText, kind: target.check.kind.rawValue) {
                log.log(.error, line)
            }
            guard state.records.identity(of: record) != nil else { return }
            let changed = state.records.recordProbe(record, success: result.isAlive)
            state.history[record, default: PeerHistory()].recordProbe(
                passed: result.isAlive, reason: result.shortReason, transition: changed?.transition,
                at: WallClock.nowMilliseconds(), durationNanoseconds: elapsedNanoseconds)
            guard let changed, let identity = state.records.identity(of: record) else { return }
            let settings = changed.settings
            switch changed.transition {
            case .wentDown: log.log(.error, "disable check peer: \(identity.address) ")
            case .cameUp: log.log(.error, "enable check peer: \(identity.address) ")
            }
            for bound in state.loops {
                bound.eventLoop.execute { bound.value.applyPeerSettings(settings) }
            }
        }
    }

    /// The check_status page's rows: every checked server in configuration order with its verdict and streaks,
    /// and the configuration generation. Read under the lock (a status request, never the request path).
    func checkStatus() -> (rows: [CheckStatusPage.Row], generation: Int) {
        state.withLockedValue { state in
            var rows: [CheckStatusPage.Row] = []
            for (index, server) in state.checked.enumerated() {
                guard let identity = state.records.identity(of: server.record),
                    let health = state.records.records[identity]?.health
                else { continue }
                rows.append(CheckStatusPage.Row(
                    index: index, upstream: server.upstream, name: identity.address, isDown: health.isDown,
                    riseCount: health.riseCount, fallCount: health.fallCount, type: server.type, port: server.port))
            }
            return (rows, state.generation)
        }
    }

    /// After a reconcile: the servers to probe (those of upstreams with a `check` whose record has a verdict to
    /// keep, i.e. not `down`), handed to the checker, and the status page's list.
    private static func updateChecks(
        _ snapshot: ProxySnapshot, peers: ReconciledPeers, state: inout State, checker: HealthChecker
    ) {
        var targets: [HealthChecker.Target] = []
        var checked: [CheckedServer] = []
        for (index, plan) in snapshot.upstreams.enumerated() {
            guard let check = plan.upstream.healthCheck, index < peers.upstreams.count else { continue }
            // The module registers an upstream's primaries, then its backups: the status page's order and index.
            let positions = plan.peers.indices.filter { !plan.peers[$0].backup }
                + plan.peers.indices.filter { plan.peers[$0].backup }
            for position in positions where position < peers.upstreams[index].count
                && position < plan.socketAddresses.count
            {
                let settings = peers.upstreams[index][position]
                guard let identity = state.records.identity(of: settings.record),
                    state.records.records[identity]?.health != nil
                else { continue }
                var address = plan.socketAddresses[position]
                if check.port > 0 {
                    address.port = check.port  // `port=`: the same address, another port
                }
                targets.append(HealthChecker.Target(record: settings.record, address: address, check: check))
                checked.append(CheckedServer(
                    record: settings.record, upstream: plan.upstream.name, type: check.kind.rawValue, port: check.port))
            }
        }
        state.targets = Dictionary(uniqueKeysWithValues: targets.map { ($0.record, $0) })
        state.checked = checked
        state.generation += 1
        checker.update(targets)
    }

    /// Sets a peer's admin state (`drain`: no new requests, those in flight finish). It holds until a reload
    /// changes the peer's `down` flag or removes it. The future completes once every loop applies it; from then
    /// on no new request on any loop selects a peer that is not `up`.
    public func setAdminState(
        _ adminState: PeerAdminState, for identity: PeerIdentity, by source: String = "admin"
    ) throws(PeerRegistryError) -> EventLoopFuture<Void> {
        try change(identity, event: PeerEvents.adminState(adminState, by: source)) { records throws(PeerRegistryError) in
            try records.setAdminState(adminState, for: identity)
        }
    }

    /// Sets a peer's weight (1...UpstreamBalancer.maximumWeight); it holds until a reload changes the peer's
    /// `weight` parameter or removes it. The future completes once every loop applies it.
    public func setWeight(
        _ weight: Int, for identity: PeerIdentity, by source: String = "admin"
    ) throws(PeerRegistryError) -> EventLoopFuture<Void> {
        try change(identity, event: PeerEvents.weight(weight, by: source)) { records throws(PeerRegistryError) in
            try records.setWeight(weight, for: identity)
        }
    }

    private func change(
        _ identity: PeerIdentity, event: String,
        _ body: (inout PeerRegistryState) throws(PeerRegistryError) -> PeerRuntimeSettings
    ) throws(PeerRegistryError) -> EventLoopFuture<Void> {
        let result: Result<[EventLoopFuture<Void>], PeerRegistryError> = state.withLockedValue { state in
            do throws(PeerRegistryError) {
                let before = state.records.records[identity]
                let settings = try body(&state.records)
                if before?.adminState != settings.adminState || before?.weight != settings.weight {
                    state.history[settings.record, default: PeerHistory()].note(event, at: WallClock.nowMilliseconds())
                }
                writeStateFiles(&state)
                return .success(state.loops.map { bound in
                    bound.eventLoop.submit { bound.value.applyPeerSettings(settings) }
                })
            } catch {
                return .failure(error)
            }
        }
        return EventLoopFuture.andAllSucceed(try result.get(), on: group.next())
    }

    /// Every peer with its registry state and its counters summed over the loops (read on each loop, so the
    /// future completes after every loop's next turn). Records are those of the moment of the call.
    /// Every loop's request figures for the `metrics` page, each read on its loop.
    func requestMetrics() -> EventLoopFuture<[RequestMetrics.Snapshot]> {
        let loops = state.withLockedValue { $0.loops }
        let reads = loops.map { bound in bound.eventLoop.submit { bound.value.metricsSnapshot } }
        return EventLoopFuture.whenAllSucceed(reads, on: group.next())
    }

    /// The peers of one context's upstreams (http's by default: the status page, the API and metrics show those).
    public func peers(of context: ProxyContext = .http) -> EventLoopFuture<[PeerStatus]> {
        let (all, loops, history) = state.withLockedValue { ($0.records.sortedRecords, $0.loops, $0.history) }
        let records = all.filter { $0.identity.isStream == (context == .stream) }
        let ids = records.map(\.id)
        let reads = loops.map { bound in
            bound.eventLoop.submit { bound.value.counterValues(for: ids) }
        }
        return EventLoopFuture.whenAllSucceed(reads, on: group.next()).map { perLoop in
            records.enumerated().map { position, record in
                let byLoop = perLoop.map { $0[position].counters }
                return PeerStatus(
                    identity: record.identity, adminState: record.adminState, weight: record.weight,
                    configured: record.configured, counters: byLoop.reduce(PeerCounterValues(), +),
                    countersByLoop: byLoop, health: record.health, history: history[record.id] ?? PeerHistory(),
                    unavailable: perLoop.contains { $0[position].unavailable },
                    responseTimeEWMA: Self.mean(perLoop.compactMap { $0[position].responseTimeEWMA }))
            }
        }
    }
}

extension UpstreamRegistry {
    static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}

/// One peer as a status page or the runtime API shows it.
public struct PeerStatus: Sendable, Equatable {
    public let identity: PeerIdentity
    public let adminState: PeerAdminState
    /// The weight in force (the configured one unless changed at run time).
    public let weight: Int
    /// The peer as the current configuration writes it (`backup`, `max_fails`, the configured weight, `down`).
    public let configured: PeerDescriptor
    /// Summed over every event loop.
    public let counters: PeerCounterValues
    /// Each loop's share, in the event loop group's order.
    public let countersByLoop: [PeerCounterValues]
    /// The active check's verdict and streaks, nil when the peer is not checked.
    public var health: HealthCheckState? = nil
    /// Recent checks and events.
    public var history = PeerHistory()
    /// max_fails has the peer out (on some event loop) now.
    public var unavailable = false
    /// `least_time`: the peak EWMA of its response time in milliseconds (mean over the event loops); nil otherwise.
    public var responseTimeEWMA: Double? = nil
}
