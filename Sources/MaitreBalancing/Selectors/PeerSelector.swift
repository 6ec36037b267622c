/// A balancing method: nginx's `peer.get` callback for one request.
protocol PeerSelector {
    /// Picks the next peer for this request, or nil ("no live upstreams"). Applies every side effect nginx's `get` has:
    /// weights, `tried`, `checked`, `conns`, the switch to backups, and for ip_hash the saved hash and probe count.
    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, now: Int64, milliseconds: Int64
    ) -> PeerID?
}

/// A method that works list by list and falls back from primaries to backups the way ngx_http_upstream_get_round_robin_peer and
/// ngx_http_upstream_get_least_conn_peer do.
protocol PeerListSelector: PeerSelector {
    /// Chooses among the list's peers that are neither tried nor unavailable, updating their weights as nginx does; returns the
    /// chosen position with its `current_weight` already reduced, or nil. The caller does the rest of the bookkeeping.
    static func choose(in list: inout PeerList, excluding tried: TriedPeers, now: Int64, milliseconds: Int64) -> Int?
}

extension PeerListSelector {
    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if upstream.single {
            // least_conn delegates a single peer to round robin, whose single branch this is.
            return upstream.takeSinglePeer()
        }
        if request.usingBackups {
            return choose(in: &upstream.backup, excluding: request.tried, now: now, milliseconds: milliseconds)
                .map { upstream.backup.take($0, marking: &request.tried, now: now) }
        }
        if let position = choose(in: &upstream.primary, excluding: request.tried, now: now, milliseconds: milliseconds) {
            return upstream.primary.take(position, marking: &request.tried, now: now)
        }
        // The `failed:` label: switch this request to the backup list for good and forget what it tried among primaries.
        guard upstream.backupsUsable, upstream.backup.count > 0 else { return nil }
        request.usingBackups = true
        request.tried.removeAll()
        return choose(in: &upstream.backup, excluding: request.tried, now: now, milliseconds: milliseconds)
            .map { upstream.backup.take($0, marking: &request.tried, now: now) }
    }
}
