/// nginx's `random` and `random two [least_conn]` (ngx_http_upstream_random_module): a peer drawn with probability
/// proportional to its weight, skipping tried, down, failed and full ones; with `two`, two distinct usable peers are
/// drawn and the one with fewer connections per weight wins (`conns × other.weight` compared, ties to the first).
/// Round robin after more than 20 draws or with fewer than two primaries.
enum RandomChoice {
    static let maximumDraws = 20

    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, two: Bool, leastTime: Bool,
        random: inout SplitMix64, now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if request.hashProbes > maximumDraws || upstream.primary.count < 2 || upstream.primary.totalWeight <= 0 {
            return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
        }
        var first: Int?
        while true {
            // ngx_http_upstream_peek_random_peer: a uniform point in the total weight, the peer whose range holds it.
            let slot = Int(random.next() % UInt64(upstream.primary.totalWeight))
            let position = upstream.primary.position(forWeightedSlot: slot)
            if position != first, !request.tried.contains(position),
                upstream.primary.peers[position].isSelectable(now: now)
            {
                guard two else { return upstream.primary.take(position, marking: &request.tried, now: now) }
                if let first {
                    let a = upstream.primary.peers[first]
                    let b = upstream.primary.peers[position]
                    let chosen: Int
                    if leastTime {
                        // Peak EWMA × (requests in flight + 1), per weight: the expected wait for one more request.
                        chosen = cost(b, at: milliseconds) < cost(a, at: milliseconds) ? position : first
                    } else {
                        // nginx keeps the first draw unless the second is less loaded per weight.
                        chosen = b.conns * a.weight > a.conns * b.weight ? first : position
                    }
                    return upstream.primary.take(chosen, marking: &request.tried, now: now)
                }
                first = position
            }
            request.hashProbes += 1
            if request.hashProbes > maximumDraws {
                return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
            }
        }
    }
}

extension RandomChoice {
    /// `least_time`'s score of a peer: its decayed peak EWMA (1 ns before any answer, so unknown peers compete on
    /// their in-flight requests alone) times its requests in flight plus this one, divided by its weight.
    static func cost(_ peer: PeerState, at milliseconds: Int64) -> Double {
        (peer.responseTime.value(at: milliseconds) + 1) * Double(peer.conns + 1) / Double(max(1, peer.weight))
    }
}

/// SplitMix64 (Steele et al.): a small, fast generator for the random methods, one per balancer (so per event loop),
/// seeded from the system's generator. Seeded, it is a fixed sequence: the tests' fuzz cases use it so that every
/// case is a pure function of its seed and reproduces on every machine.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
