/// nginx's `hash KEY` (ngx_http_upstream_get_hash_peer): the key's CRC32, compatible with Cache::Memcached, walked onto
/// the primaries by weight; a tried or unavailable peer makes it rehash with a growing prefix ("1KEY", "2KEY", …)
/// added to the previous value. Round robin after more than 20 failed probes, with fewer than two primaries, or with an
/// empty key.
enum Hash: PeerSelector {
    static let maximumProbes = 20

    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if request.hashProbes > maximumProbes || upstream.primary.count < 2 || request.hashKey.isEmpty
            || upstream.primary.totalWeight <= 0
        {
            return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
        }
        while true {
            // ((crc32([REHASH] KEY) >> 16) & 0x7fff) + PREV_HASH, REHASH omitted the first time.
            var crc = CRC32()
            if request.hashRehash > 0 { crc.update(String(request.hashRehash).utf8) }
            crc.update(request.hashKey)
            request.hashValue &+= (crc.final >> 16) & 0x7FFF
            request.hashRehash += 1
            let slot = Int(request.hashValue % UInt32(truncatingIfNeeded: upstream.primary.totalWeight))
            let position = upstream.primary.position(forWeightedSlot: slot)
            if !request.tried.contains(position) && upstream.primary.peers[position].isSelectable(now: now) {
                return upstream.primary.take(position, marking: &request.tried, now: now)
            }
            request.hashProbes += 1
            if request.hashProbes > maximumProbes {
                return SmoothWeightedRoundRobin.select(&request, from: &upstream, now: now, milliseconds: milliseconds)
            }
        }
    }
}
