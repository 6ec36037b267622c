/// What makes a peer the same one across reloads, DNS re-resolutions and run-time changes: its upstream, the
/// `server` entry as written, and the address that entry resolved to. Parameters (weight, max_fails, backup,
/// down) are not part of it: editing them changes a peer, it does not replace it, so its counters and run-time
/// state stay (see `PeerRegistryState.reconcile` for what a parameter change resets).
public struct PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    public let upstream: String
    /// The `server` string as written, e.g. "app1.example.com:8080".
    public let server: String
    /// One resolved address of it, numeric "ip:port".
    public let address: String
    /// 0, or n for the (n+1)th peer of the upstream with the same server string and address (`server a; server a;`
    /// are two peers, and nginx balances over both).
    public let ordinal: Int
    /// The upstream is the stream context's (nginx keeps http's and stream's upstream names apart).
    public let isStream: Bool

    public init(upstream: String, server: String, address: String, ordinal: Int = 0, isStream: Bool = false) {
        self.upstream = upstream
        self.server = server
        self.address = address
        self.ordinal = ordinal
        self.isStream = isStream
    }

    public var description: String {
        (isStream ? "stream:" : "") + "\(upstream)/\(server)/\(address)" + (ordinal == 0 ? "" : "#\(ordinal)")
    }
}

/// A record's process-unique number: the key loops keep its counters under. Never reused, so a counter cell left
/// in an old balancer can never be confused with a later record's.
public struct PeerRecordID: Hashable, Sendable, Comparable {
    public let value: UInt64

    public init(value: UInt64) {
        self.value = value
    }

    public static func < (lhs: PeerRecordID, rhs: PeerRecordID) -> Bool { lhs.value < rhs.value }
}

/// The process-lifetime state of one peer that is not per loop: how it was configured last, the admin state and
/// weight in force (which the runtime API changes), and its record number.
public struct PeerRecord: Sendable, Equatable {
    public let id: PeerRecordID
    public let identity: PeerIdentity
    /// The peer as the newest configuration describes it.
    public internal(set) var configured: PeerDescriptor
    public internal(set) var adminState: PeerAdminState
    public internal(set) var weight: Int
    /// The active check's verdict, nil when the peer is not checked (no `check` in its upstream, or `down`).
    public internal(set) var health: HealthCheckState? = nil
    /// The rules `health` follows.
    public internal(set) var healthRules: HealthRules? = nil

    /// What a loop applies to the peer's balancer entry.
    public var settings: PeerRuntimeSettings {
        PeerRuntimeSettings(record: id, adminState: adminState, weight: weight, checkDown: health?.isDown ?? false)
    }
}

/// The registry's word on one peer, as every loop applies it.
public struct PeerRuntimeSettings: Sendable, Equatable {
    public let record: PeerRecordID
    public let adminState: PeerAdminState
    public let weight: Int
    /// The active check has the peer down.
    public let checkDown: Bool

    public init(record: PeerRecordID, adminState: PeerAdminState, weight: Int, checkDown: Bool = false) {
        self.record = record
        self.adminState = adminState
        self.weight = weight
        self.checkDown = checkDown
    }
}

/// One upstream's peers, as a configuration (or a re-resolution) lists them: the input of `reconcile`.
public struct UpstreamPeerList: Sendable {
    public let upstream: String
    public let peers: [PeerDescriptor]
    /// The upstream's active check, nil without one.
    public let health: HealthRules?
    /// A stream upstream (a namespace of its own).
    public let isStream: Bool

    public init(upstream: String, peers: [PeerDescriptor], health: HealthRules? = nil, isStream: Bool = false) {
        self.upstream = upstream
        self.peers = peers
        self.health = health
        self.isStream = isStream
    }
}

/// What `reconcile` decided: for each upstream of the input, in its order, each peer's settings in peer order, and
/// the records that no longer exist (loops drop their counters).
public struct ReconciledPeers: Sendable, Equatable {
    public let upstreams: [[PeerRuntimeSettings]]
    public let removed: [PeerRecordID]
}
