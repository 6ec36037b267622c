/// How a reload carries peer state over: a peer of the new configuration that is the same `server` entry, the same
/// resolved address and the same parameters as a peer of the old one keeps its passive-health state and its
/// smooth-weight position; anything changed starts fresh, as a new peer does. In-flight requests keep releasing
/// into the balancer they were selected from, so their `conns` never skew the new one.
public struct PeerCarryOver: Sendable, Equatable {
    /// For each new peer index, the old peer index it continues, or nil.
    public let previousIndex: [Int?]

    /// Matches peers by identity: equal descriptors (name, address and every parameter). When `addressOnly`,
    /// only the `server` string and the resolved address must match (enough for a pooled connection to be
    /// reused, which does not care about weights or failure settings).
    public init(from old: [PeerDescriptor], to new: [PeerDescriptor], addressOnly: Bool = false) {
        var unused: [String: [Int]] = [:]
        for (index, peer) in old.enumerated().reversed() {
            unused[peer.name + " " + peer.address, default: []].append(index)
        }
        var map: [Int?] = []
        map.reserveCapacity(new.count)
        for peer in new {
            let key = peer.name + " " + peer.address
            guard var candidates = unused[key], let position = candidates.lastIndex(where: {
                addressOnly || old[$0] == peer
            }) else {
                map.append(nil)
                continue
            }
            let index = candidates.remove(at: position)
            unused[key] = candidates
            map.append(index)
        }
        previousIndex = map
    }
}

extension UpstreamBalancer {
    /// Takes over the passive-health counters (`fails`, `accessed`, `checked`) and the smooth weights of the
    /// peers `carryOver` matches in `previous`. Connection counts are not taken: the old balancer's requests
    /// release into it.
    public mutating func inheritState(from previous: UpstreamBalancer, carryOver: PeerCarryOver) {
        for (index, old) in carryOver.previousIndex.enumerated() {
            guard let old, index < peers.count, old < previous.peers.count else { continue }
            let source = previous.peerState(PeerID(index: old))
            // Current weights are in the list's weight scale, which slow_start elsewhere in it may change.
            let (scaleBefore, scaleNow) = (previous.weightScale(of: PeerID(index: old)), weightScale(of: PeerID(index: index)))
            modifyPeerState(PeerID(index: index)) { state in
                state.fails = source.fails
                state.accessed = source.accessed
                state.checked = source.checked
                state.effectiveWeight = source.effectiveWeight
                state.currentWeight = source.currentWeight / scaleBefore * scaleNow
                state.ramp = source.ramp
            }
        }
    }
}
