/// nginx's sticky sessions at selection time (ngx_http_upstream_get_rr_peer_by_sid and its callers, 1.29.6): a
/// request that names a server ID (a cookie's value, a route) goes to the peer with that SID when the peer may
/// take it; otherwise the method chooses as usual, and the response tells the client the new SID.
enum Sticky {
    /// A peer's SID: its `route=` if it has one, else the lowercase hex MD5 of its address text ("10.0.0.1:80"),
    /// as ngx_http_upstream_init_round_robin_sid computes it. Any number of balancers with the same upstream agree.
    static func serverID(of descriptor: PeerDescriptor) -> [UInt8] {
        if let route = descriptor.route, !route.isEmpty { return Array(route.utf8) }
        return Array(MD5.hex(Array(descriptor.address.utf8)).utf8)
    }

    /// The position of the peer whose SID is `hint` in `list`, when it is neither tried nor `down` (a draining one
    /// keeps its sessions), nor out by max_fails or its check, nor at max_conns.
    static func find(_ hint: [UInt8], in list: PeerList, tried: TriedPeers, now: Int64) -> Int? {
        guard let position = list.serverIDs.firstIndex(of: hint), !tried.contains(position) else { return nil }
        let peer = list.peers[position]
        guard peer.admin != .down, !peer.checkDown, !peer.isAtMaxConns, !peer.isTemporarilyDisabled(now: now) else {
            return nil
        }
        return position
    }

    /// Round robin's treatment of the sticky peer (ngx_http_upstream_get_peer with a hint): taken without touching
    /// the weights while its current weight is at or below -(total weight - its weight); otherwise every available
    /// peer gains its weight as usual and the sticky peer, not the round's winner, pays back the total.
    static func roundRobin(
        _ position: Int, in list: inout PeerList, tried: TriedPeers, now: Int64, milliseconds: Int64
    ) {
        let lowLimit = -(list.totalWeight - list.peers[position].weight) * list.weightScale
        guard list.peers[position].currentWeight > lowLimit else { return }
        var total = 0
        for index in list.peers.indices where !tried.contains(index) && list.peers[index].isSelectable(now: now) {
            total += list.peers[index].accumulateSmoothWeight(scale: list.weightScale, milliseconds: milliseconds)
        }
        list.peers[position].currentWeight -= total
    }
}
