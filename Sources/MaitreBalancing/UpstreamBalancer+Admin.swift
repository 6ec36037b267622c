/// Run-time changes an operator makes to a peer (through the registry): its admin state and its weight. They are
/// applied between requests on the balancer's own loop, never on the request path.
extension UpstreamBalancer {
    /// The largest weight the registry accepts. nginx's parser takes any positive int; a bound keeps least_conn's
    /// `conns * weight` cross products far from overflow.
    public static let maximumWeight = 1_000_000

    public func adminState(of peer: PeerID) -> PeerAdminState {
        peerState(peer).admin
    }

    public func weight(of peer: PeerID) -> Int {
        peerState(peer).weight
    }

    public func counters(of peer: PeerID) -> PeerCounterValues {
        counters[peer.index].values
    }

    /// `down` and `drain` stop new selections of the peer from the next `select` on; requests that hold it finish
    /// and release normally. `tries` (the attempts a new request gets) counts `up` peers only, as nginx counts
    /// non-`down` ones. When every primary is out, requests move to the backups as they do for `down` primaries.
    public mutating func setAdminState(_ state: PeerAdminState, for peer: PeerID) {
        guard peer.index >= 0, peer.index < peers.count, peerState(peer).admin != state else { return }
        modifyPeerState(peer) { peerState in
            peerState.admin = state
            if state == .up { peerState.startSlowStart() }
        }
        recountList(of: peer)
    }

    /// Sets the peer's weight (clamped to 1...maximumWeight) and restarts the smooth round-robin cycle of its list:
    /// every current weight goes back to 0, as when nginx builds the peers, so the next `sum of weights`
    /// selections follow the new proportions exactly. The peer's effective weight becomes the new weight (a
    /// reduction left by failures is forgiven, as a freshly configured peer has none); other peers keep theirs.
    public mutating func setWeight(_ weight: Int, for peer: PeerID) {
        let weight = min(max(1, weight), Self.maximumWeight)
        guard peer.index >= 0, peer.index < peers.count, peerState(peer).weight != weight else { return }
        modifyPeerState(peer) { state in
            state.weight = weight
            state.effectiveWeight = weight
        }
        let location = locations[peer.index]
        if location.isBackup {
            for position in lists.backup.peers.indices { lists.backup.peers[position].currentWeight = 0 }
        } else {
            for position in lists.primary.peers.indices { lists.primary.peers[position].currentWeight = 0 }
        }
        recountList(of: peer)
    }

    /// The registry's word on the peer (admin state, weight, health verdict), as every loop applies it.
    public mutating func apply(_ settings: PeerRuntimeSettings, to peer: PeerID) {
        setAdminState(settings.adminState, for: peer)
        setWeight(settings.weight, for: peer)
        setCheckDown(settings.checkDown, for: peer)
    }

    /// The active health check's verdict for the peer: a check-down peer gets no new requests (requests that hold it
    /// finish), whatever its admin state; it still counts in `tries`, as the check module leaves nginx's count alone.
    public mutating func setCheckDown(_ down: Bool, for peer: PeerID) {
        guard peer.index >= 0, peer.index < peers.count else { return }
        modifyPeerState(peer) { state in
            if state.checkDown && !down { state.startSlowStart() }
            state.checkDown = down
        }
    }

    public func isCheckDown(_ peer: PeerID) -> Bool {
        peerState(peer).checkDown
    }

    private mutating func recountList(of peer: PeerID) {
        if locations[peer.index].isBackup {
            lists.backup.recount()
        } else {
            lists.primary.recount()
        }
    }
}

extension UpstreamBalancer {
    /// The counter cell of a peer (shared by every balancer of its registry record on this loop).
    /// `least_time`'s decayed peak EWMA of the peer's response time in milliseconds; nil for other methods.
    public func responseTimeEWMA(of peer: PeerID, atMilliseconds now: Int64) -> Double? {
        if let average = leastTimeAverage(of: peer) { return average }
        guard case .randomTwoLeastTime = method, peer.index >= 0, peer.index < locations.count else { return nil }
        return peerState(peer).responseTime.value(at: now) / 1_000_000
    }

    public func counterCell(of peer: PeerID) -> PeerCounters? {
        peer.index >= 0 && peer.index < counters.count ? counters[peer.index] : nil
    }
}
