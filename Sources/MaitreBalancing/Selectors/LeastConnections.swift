/// nginx's `least_conn` (ngx_http_upstream_get_least_conn_peer): the fewest connections per unit of weight, ties broken by smooth
/// weighted round robin among the tied peers only.
enum LeastConnections: PeerListSelector {
    static func choose(in list: inout PeerList, excluding tried: TriedPeers, now: Int64, milliseconds: Int64) -> Int? {
        var best: Int?
        var tied = false
        for position in list.peers.indices {
            if tried.contains(position) || !list.peers[position].isSelectable(now: now) {
                continue
            }
            guard let leader = best else {
                best = position
                tied = false
                continue
            }
            // conns/weight compared without division: peer.conns * best.weight vs best.conns * peer.weight
            // (weights as a slow_start ramp has them).
            let candidateLoad = list.peers[position].conns * list.loadWeight(leader, milliseconds: milliseconds)
            let leaderLoad = list.peers[leader].conns * list.loadWeight(position, milliseconds: milliseconds)
            if candidateLoad < leaderLoad {
                best = position
                tied = false
            } else if candidateLoad == leaderLoad {
                tied = true
            }
        }
        guard let first = best else { return nil }
        guard tied else {
            // nginx still runs `best->current_weight -= total` with total = 0: weights are untouched without a tie.
            return first
        }
        return breakTie(in: &list, startingAt: first, excluding: tried, now: now, milliseconds: milliseconds)
    }

    /// The `many` loop: smooth weighted round robin over the peers from `first` on whose load equals the (moving) best's.
    private static func breakTie(
        in list: inout PeerList, startingAt first: Int, excluding tried: TriedPeers, now: Int64, milliseconds: Int64
    ) -> Int {
        var best = first
        var total = 0
        for position in first..<list.count {
            if tried.contains(position) || !list.peers[position].isOffered {
                continue
            }
            if list.peers[position].conns * list.loadWeight(best, milliseconds: milliseconds)
                != list.peers[best].conns * list.loadWeight(position, milliseconds: milliseconds) {
                continue
            }
            if list.peers[position].isTemporarilyDisabled(now: now) || list.peers[position].isAtMaxConns {
                continue
            }
            total += list.peers[position].accumulateSmoothWeight(scale: list.weightScale, milliseconds: milliseconds)
            if list.peers[position].currentWeight > list.peers[best].currentWeight {
                best = position
            }
        }
        list.peers[best].currentWeight -= total
        return best
    }
}
