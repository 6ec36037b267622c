/// Live per-peer counters, as exposed for status pages, metrics and tests. Field meanings are those of
/// `ngx_http_upstream_rr_peer_t`: `accessed` is the time of the last failure, `checked` the time of the last failure or of the
/// first pick after fail_timeout had elapsed (seconds, the caller's `now`).
public struct PeerLiveState: Sendable, Equatable {
    public var conns: Int
    public var fails: Int
    public var effectiveWeight: Int
    public var currentWeight: Int
    public var accessed: Int64
    public var checked: Int64

    public init(conns: Int, fails: Int, effectiveWeight: Int, currentWeight: Int, accessed: Int64, checked: Int64) {
        self.conns = conns
        self.fails = fails
        self.effectiveWeight = effectiveWeight
        self.currentWeight = currentWeight
        self.accessed = accessed
        self.checked = checked
    }
}

/// One peer's configuration and counters: the fields of `ngx_http_upstream_rr_peer_t` that the balancing code reads or writes.
/// Counters start as nginx's `ngx_pcalloc` leaves them (zero) except `effective_weight`, which starts at `weight`.
/// `weight` and `admin` start as configured and change at run time through the registry (`UpstreamBalancer+Admin.swift`).
struct PeerState: Sendable {
    var weight: Int
    let maxFails: Int
    let failTimeout: Int64
    /// `max_conns` (0: none): nginx skips the peer while `conns` is at it.
    let maxConns: Int
    /// nginx's `down` flag, widened to the registry's admin state: only `.up` peers are given new requests.
    var admin: PeerAdminState
    /// The active health check has the peer down (the upstream check module's `ngx_http_upstream_check_peer_down`).
    var checkDown = false
    /// `slow_start` in milliseconds (0: none), and where the peer is in its ramp.
    let slowStart: Int64
    var ramp = SlowStartRamp.none

    var conns = 0
    var fails = 0
    var effectiveWeight: Int
    var currentWeight = 0
    var accessed: Int64 = 0
    var checked: Int64 = 0
    /// `least_time`: the peak EWMA of this peer's response times on this loop.
    var responseTime = PeakEWMA()
    /// `least_time` (nginx 1.31): this peer's averages on this loop.
    var leastTime = LeastTimeStats()

    init(_ descriptor: PeerDescriptor) {
        // nginx's config parser rejects weight < 1 and parses max_fails as unsigned; clamping keeps the hash walk and the
        // cross-multiplications well defined should a caller skip that validation.
        weight = max(1, descriptor.weight)
        maxFails = max(0, descriptor.maxFails)
        failTimeout = descriptor.failTimeoutSeconds
        maxConns = max(0, descriptor.maxConns)
        admin = descriptor.down ? .down : .up
        effectiveWeight = weight
        slowStart = max(0, descriptor.slowStartMilliseconds)
    }

    /// Offered to new requests by the operator and the health check (passive health aside): the module skips a
    /// check-down peer right after `down` ones, before max_fails.
    var isOffered: Bool { admin == .up && !checkDown }

    /// nginx's `peer->max_conns && peer->conns >= peer->max_conns`.
    var isAtMaxConns: Bool { maxConns > 0 && conns >= maxConns }

    var live: PeerLiveState {
        PeerLiveState(
            conns: conns, fails: fails, effectiveWeight: effectiveWeight, currentWeight: currentWeight,
            accessed: accessed, checked: checked
        )
    }

    /// One step of nginx's smooth weighted round robin for this peer (the body shared by ngx_http_upstream_get_peer and the
    /// tie-breaking loop of ngx_http_upstream_get_least_conn_peer): accumulate, and let a reduced effective weight recover by one.
    /// Returns the effective weight that was added, which the caller sums into `total`.
    /// `scale` is the list's weight scale (1 without slow_start: nginx's arithmetic exactly); `milliseconds` the
    /// loop's clock, for a peer ramping up after `slow_start`.
    mutating func accumulateSmoothWeight(scale: Int, milliseconds: Int64) -> Int {
        let added = rampedWeight(effectiveWeight, scale: scale, milliseconds: milliseconds)
        currentWeight += added
        if effectiveWeight < weight {
            effectiveWeight += 1
        }
        return added
    }
}
