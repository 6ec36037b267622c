/// One list of peers, primary or backup: nginx's `ngx_http_upstream_rr_peers_t`. Positions in the list are the bit positions of
/// the request's `tried` bitmap; `ids` maps them back to the balancer-wide `PeerID`.
struct PeerList: Sendable {
    var peers: [PeerState]
    let ids: [PeerID]
    /// Each peer's sticky server ID (`Sticky.serverID`), by position.
    let serverIDs: [[UInt8]]
    /// Sum of all weights, `down` peers included (ip_hash walks it so that `down` keeps the mapping of the others).
    private(set) var totalWeight: Int
    /// Peers that are `up` (neither `down` nor draining): this list's share of the per-request `tries`.
    private(set) var tries: Int
    /// 1, or 1000 where a peer has `slow_start` (`PeerList.weightScale(for:)`).
    let weightScale: Int

    init(_ members: [(id: PeerID, descriptor: PeerDescriptor)]) {
        let peers = members.map { PeerState($0.descriptor) }
        self.peers = peers
        weightScale = Self.weightScale(for: peers)
        ids = members.map(\.id)
        serverIDs = members.map { Sticky.serverID(of: $0.descriptor) }
        totalWeight = 0
        tries = 0
        recount()
    }

    /// Recomputes the sums after a peer's weight or admin state changed (never on the request path).
    mutating func recount() {
        totalWeight = peers.reduce(0) { $0 + $1.weight }
        tries = peers.count(where: { $0.admin == .up })
    }

    var count: Int { peers.count }

    /// The bookkeeping every nginx `get` does on the peer it returns (except the `single` shortcut): mark it tried in this request,
    /// move `checked` forward when fail_timeout has passed since the last check (the trial pick), and count the connection.
    mutating func take(_ position: Int, marking tried: inout TriedPeers, now: Int64) -> PeerID {
        tried.insert(position)
        peers[position].noteSelected(now: now)
        peers[position].conns += 1
        return ids[position]
    }
}

/// Primary and backup lists of one upstream: nginx's `peers` and `peers->next`.
struct UpstreamPeers: Sendable {
    var primary: PeerList
    var backup: PeerList
    /// False for ip_hash, whose config module rejects `backup` (see UpstreamBalancer.init).
    let backupsUsable: Bool
    /// nginx's `peers->single`: exactly one primary (even if `down`) and no backup. Such a peer bypasses tried/max_fails entirely.
    let single: Bool

    init(primary: PeerList, backup: PeerList, backupsUsable: Bool) {
        self.primary = primary
        self.backup = backup
        self.backupsUsable = backupsUsable
        self.single = primary.count == 1 && (!backupsUsable || backup.count == 0)
    }

    /// nginx's `ngx_http_upstream_tries(peers)`.
    var tries: Int { primary.tries + (backupsUsable ? backup.tries : 0) }

    /// The `peers->single` branch of ngx_http_upstream_get_round_robin_peer: only `down` and max_conns can refuse the peer;
    /// nothing is marked tried and `checked` is left alone. A draining single peer is refused like a `down` one, and
    /// so is one its health check has down (the check module patches this branch too).
    mutating func takeSinglePeer() -> PeerID? {
        guard primary.peers[0].isOffered, !primary.peers[0].isAtMaxConns else { return nil }
        primary.peers[0].conns += 1
        return primary.ids[0]
    }
}
