/// One resolved address of a `server` line, with its parameters. nginx turns a hostname with k addresses into k peers that share
/// the `server` string; the config layer does that expansion and hands us one descriptor per address.
public struct PeerDescriptor: Sendable, Equatable {
    /// The `server` string as written, e.g. "app1.example.com:8080".
    public var name: String
    /// Numeric "ip:port" or "[v6]:port" (one resolved address).
    public var address: String {
        didSet { addressBytes = Array(address.utf8) }
    }
    /// `address` as bytes, made once: the access log writes it per request.
    public private(set) var addressBytes: [UInt8]
    public var weight: Int
    public var maxFails: Int
    public var failTimeoutSeconds: Int64
    public var backup: Bool
    public var down: Bool
    /// `max_conns=N`: requests the peer may hold at once on one event loop (0: no limit).
    public var maxConns: Int = 0
    /// `slow_start=TIME` (nginx Plus): a peer that comes back ramps its weight from nothing to `weight` over
    /// this many milliseconds (0: at once).
    public var slowStartMilliseconds: Int64 = 0
    /// `route=STRING`: the peer's sticky server ID instead of the MD5 of its address.
    public var route: String?

    /// Defaults are nginx's `server` defaults: weight=1 max_fails=1 fail_timeout=10s.
    public init(
        name: String,
        address: String,
        weight: Int = 1,
        maxFails: Int = 1,
        failTimeoutSeconds: Int64 = 10,
        backup: Bool = false,
        down: Bool = false
    ) {
        self.name = name
        self.address = address
        self.addressBytes = Array(address.utf8)
        self.weight = weight
        self.maxFails = maxFails
        self.failTimeoutSeconds = failTimeoutSeconds
        self.backup = backup
        self.down = down
    }
}

/// Index of a peer in the balancer's `peers` array (config order, primaries and backups interleaved as given).
public struct PeerID: Hashable, Sendable {
    public let index: Int

    public init(index: Int) {
        self.index = index
    }
}
