/// nginx's `ip_hash` (ngx_http_upstream_get_ip_hash_peer): a client key hashed onto the primaries by weight, re-probing from the
/// current hash when the peer is tried or unavailable, and plain round robin after more than 20 failed probes or with fewer than
/// two primaries.
enum IPHash: PeerSelector {
    static let initialHash = 89
    static let maximumFailedProbes = 20

    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if request.ipHashFailedProbes > maximumFailedProbes || upstream.primary.count < 2 {
            return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
        }
        var hash = request.ipHashValue
        while true {
            hash = advance(hash, over: request.client)
            let position = upstream.primary.position(forWeightedSlot: hash % upstream.primary.totalWeight)
            if !request.tried.contains(position) && upstream.primary.peers[position].isSelectable(now: now) {
                // nginx saves the hash only here, so a retry continues from the probe that succeeded.
                request.ipHashValue = hash
                return upstream.primary.take(position, marking: &request.tried, now: now)
            }
            request.ipHashFailedProbes += 1
            if request.ipHashFailedProbes > maximumFailedProbes {
                return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
            }
        }
    }

    /// One probe's hash: `hash = (hash * 113 + byte) % 6271` over the key bytes (IPv4's first three octets, IPv6's sixteen,
    /// three zero bytes for other families).
    static func advance(_ hash: Int, over key: ClientAddressKey) -> Int {
        var hash = hash
        switch key {
        case let .ipv4(a, b, c, _):
            hash = step(step(step(hash, a), b), c)
        case let .ipv6(bytes):
            for byte in bytes {
                hash = step(hash, byte)
            }
        case .other:
            hash = step(step(step(hash, 0), 0), 0)
        }
        return hash
    }

    private static func step(_ hash: Int, _ byte: UInt8) -> Int {
        (hash * 113 + Int(byte)) % 6271
    }
}

extension PeerList {
    /// The weight walk: subtract each peer's weight in list order (down peers included) until the slot falls inside one.
    func position(forWeightedSlot slot: Int) -> Int {
        var remaining = slot
        var position = 0
        while remaining >= peers[position].weight {
            remaining -= peers[position].weight
            position += 1
        }
        return position
    }
}
