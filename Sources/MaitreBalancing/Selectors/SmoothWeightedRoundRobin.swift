/// nginx's default method: smooth weighted round robin (ngx_http_upstream_get_round_robin_peer / ngx_http_upstream_get_peer).
/// Weights 5,1,1 give a a b a c a a; a peer whose effective weight was cut by failures regains one point per selection pass.
enum SmoothWeightedRoundRobin: PeerListSelector {
    /// ngx_http_upstream_get_peer: every available peer gains its effective weight; the first with the strictly largest
    /// current weight wins and pays back the total of what was added.
    static func choose(in list: inout PeerList, excluding tried: TriedPeers, now: Int64, milliseconds: Int64) -> Int? {
        var best: Int?
        var total = 0
        for position in list.peers.indices {
            if tried.contains(position) || !list.peers[position].isSelectable(now: now) {
                continue
            }
            total += list.peers[position].accumulateSmoothWeight(scale: list.weightScale, milliseconds: milliseconds)
            if let leader = best, list.peers[position].currentWeight <= list.peers[leader].currentWeight {
                continue
            }
            best = position
        }
        guard let best else { return nil }
        list.peers[best].currentWeight -= total
        return best
    }
}
