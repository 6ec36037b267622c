/// The registry's records, keyed by peer identity: a value the NIO shell (`UpstreamRegistry`) keeps under its lock
/// and changes only through these methods, so every rule about carrying state over lives here and is tested
/// without sockets. Per-loop state (passive health, smooth weights, connections, counters) is not here: loops keep
/// it in their balancers, as nginx keeps it per worker.
public struct PeerRegistryState: Sendable {
    public private(set) var records: [PeerIdentity: PeerRecord] = [:]
    /// Record number to identity, for probe results (which name records by number).
    private var recordIdentities: [PeerRecordID: PeerIdentity] = [:]
    private var nextRecordNumber: UInt64 = 1

    public init() {}

    /// Maps every peer of `upstreams` to its record by identity. A peer whose identity exists keeps its record:
    /// the same counters, admin state and weight, except that the configuration wins where it changed:
    /// - the `down` flag differs from the previous configuration's: the admin state becomes the new flag's
    ///   (`down` or `up`), dropping any run-time `drain`/`down`/`up`;
    /// - the `weight` differs: the run-time weight becomes the configured one.
    /// Otherwise run-time changes persist across reloads, as nginx Plus keeps API changes in its state file.
    /// A new identity gets a new record (admin state from `down`, configured weight); identities no longer listed
    /// are dropped, and the same identity listed again later starts over.
    public mutating func reconcile(_ upstreams: [UpstreamPeerList]) -> ReconciledPeers {
        var next: [PeerIdentity: PeerRecord] = [:]
        next.reserveCapacity(records.count)
        var assigned: [[PeerRuntimeSettings]] = []
        assigned.reserveCapacity(upstreams.count)
        for list in upstreams {
            var row: [PeerRuntimeSettings] = []
            row.reserveCapacity(list.peers.count)
            for peer in list.peers {
                // The first free ordinal: duplicates of one server and address become #1, #2, … in config order.
                var ordinal = 0
                var identity = PeerIdentity(
                    upstream: list.upstream, server: peer.name, address: peer.address, isStream: list.isStream)
                while next[identity] != nil {
                    ordinal += 1
                    identity = PeerIdentity(
                        upstream: list.upstream, server: peer.name, address: peer.address, ordinal: ordinal,
                        isStream: list.isStream)
                }
                var record = carriedOver(records[identity], identity: identity, configured: peer)
                Self.applyHealthRules(list.health, to: &record)
                next[identity] = record
                row.append(record.settings)
            }
            assigned.append(row)
        }
        let removed = records.values.filter { next[$0.identity] == nil }.map(\.id).sorted()
        records = next
        recordIdentities = Dictionary(uniqueKeysWithValues: next.values.map { ($0.id, $0.identity) })
        return ReconciledPeers(upstreams: assigned, removed: removed)
    }

    private mutating func carriedOver(
        _ existing: PeerRecord?, identity: PeerIdentity, configured: PeerDescriptor
    ) -> PeerRecord {
        let configuredWeight = Self.clampedWeight(configured.weight)
        guard var record = existing else {
            defer { nextRecordNumber += 1 }
            return PeerRecord(
                id: PeerRecordID(value: nextRecordNumber), identity: identity, configured: configured,
                adminState: configured.down ? .down : .up, weight: configuredWeight)
        }
        if record.configured.down != configured.down {
            record.adminState = configured.down ? .down : .up
        }
        if record.configured.weight != configured.weight {
            record.weight = configuredWeight
        }
        record.configured = configured
        return record
    }

    /// The check module probes every server of a checked upstream except `down` ones. A peer keeps its verdict
    /// while its upstream's rules stay the same; new rules (or a newly checked peer) start from `defaultDown`.
    private static func applyHealthRules(_ rules: HealthRules?, to record: inout PeerRecord) {
        guard let rules, !record.configured.down else {
            record.health = nil
            record.healthRules = nil
            return
        }
        if record.health == nil || record.healthRules != rules {
            record.health = HealthCheckState(rise: rules.rise, fall: rules.fall, defaultDown: rules.defaultDown)
            record.healthRules = rules
        }
    }

    /// One probe's result for the peer with record `id`: the settings every loop must apply when the verdict
    /// changed (nil otherwise, or when the record is gone or not checked), and the transition.
    public mutating func recordProbe(_ id: PeerRecordID, success: Bool)
        -> (settings: PeerRuntimeSettings, transition: HealthCheckState.Transition)?
    {
        guard let identity = identity(of: id), var record = records[identity], var health = record.health else {
            return nil
        }
        let transition = health.record(success: success)
        record.health = health
        records[identity] = record
        guard let transition else { return nil }
        return (record.settings, transition)
    }

    /// The identity of the record numbered `id`, if it still exists.
    public func identity(of id: PeerRecordID) -> PeerIdentity? {
        recordIdentities[id]
    }

    /// Sets a peer's admin state until a reload changes its `down` flag (or drops it). Returns the settings loops
    /// must apply, or throws `.unknownPeer`.
    public mutating func setAdminState(_ state: PeerAdminState, for identity: PeerIdentity) throws(PeerRegistryError)
        -> PeerRuntimeSettings
    {
        guard var record = records[identity] else { throw .unknownPeer(identity) }
        record.adminState = state
        records[identity] = record
        return record.settings
    }

    /// Sets a peer's weight until a reload changes its `weight` parameter (or drops it). Throws `.invalidWeight`
    /// outside 1...UpstreamBalancer.maximumWeight, `.unknownPeer` for an identity with no record.
    public mutating func setWeight(_ weight: Int, for identity: PeerIdentity) throws(PeerRegistryError)
        -> PeerRuntimeSettings
    {
        guard (1...UpstreamBalancer.maximumWeight).contains(weight) else { throw .invalidWeight(weight) }
        guard var record = records[identity] else { throw .unknownPeer(identity) }
        record.weight = weight
        records[identity] = record
        return record.settings
    }

    /// `reconciled` with every peer's settings as its record says now (after a state file's overrides).
    public func refreshed(_ reconciled: ReconciledPeers) -> ReconciledPeers {
        let rows = reconciled.upstreams.map { row in
            row.map { settings in identity(of: settings.record).flatMap { records[$0]?.settings } ?? settings }
        }
        return ReconciledPeers(upstreams: rows, removed: reconciled.removed)
    }

    /// Every record, by upstream, then in record (first seen) order.
    public var sortedRecords: [PeerRecord] {
        records.values.sorted { ($0.identity.upstream, $0.id) < ($1.identity.upstream, $1.id) }
    }

    /// nginx rejects weight < 1 at parse time; the registry keeps what a balancer would use.
    static func clampedWeight(_ weight: Int) -> Int {
        min(max(1, weight), UpstreamBalancer.maximumWeight)
    }
}

/// Why a registry change was refused.
public enum PeerRegistryError: Error, Equatable, CustomStringConvertible {
    case unknownPeer(PeerIdentity)
    case invalidWeight(Int)

    public var description: String {
        switch self {
        case .unknownPeer(let identity): "no peer \(identity)"
        case .invalidWeight(let weight): "invalid weight \(weight): must be 1...\(UpstreamBalancer.maximumWeight)"
        }
    }
}
