extension UpstreamBalancer {
    /// `least_time header … inflight`: the response head arrived `headerMilliseconds` after the attempt began
    /// (ngx_http_upstream_least_time_notify): the header average learns it and the request stops counting in
    /// flight. Nothing for the other methods.
    public mutating func leastTimeHeader(
        _ peer: PeerID, _ request: inout PeerSelectionState, headerMilliseconds: Int64, milliseconds: Int64
    ) {
        guard case .leastTime(false, true) = method, peer.index >= 0, peer.index < locations.count else { return }
        let inflight = request.leastTimeInflight
        request.leastTimeInflight = false
        modifyPeerState(peer) { state in
            state.leastTime.headerTime = LeastTimeStats.average(state.leastTime.headerTime, headerMilliseconds)
            if inflight { state.leastTime.inflightDone(last: headerMilliseconds, now: milliseconds) }
        }
    }

    /// The attempt on `peer` is over (ngx_http_upstream_free_least_time_peer, before the round-robin release):
    /// it stops counting in flight, and a successful one (`sample`: its times to the header and the last byte)
    /// updates the averages. Call before `release`. Nothing for the other methods.
    public mutating func leastTimeFinished(
        _ peer: PeerID, _ request: inout PeerSelectionState, sample: (header: Int64, lastByte: Int64)?,
        responseMilliseconds: Int64, milliseconds: Int64
    ) {
        guard case .leastTime(let lastByte, let inflight) = method, peer.index >= 0, peer.index < locations.count else {
            return
        }
        let wasInflight = request.leastTimeInflight
        request.leastTimeInflight = false
        modifyPeerState(peer) { state in
            if wasInflight { state.leastTime.inflightDone(last: responseMilliseconds, now: milliseconds) }
            // Only successful attempts with a header count, so that failing peers do not look fast.
            guard let sample, sample.header >= 0 else { return }
            state.leastTime.responseTime = LeastTimeStats.average(state.leastTime.responseTime, sample.lastByte)
            if inflight && !lastByte { return }  // the header time was learnt when the header came
            state.leastTime.headerTime = LeastTimeStats.average(state.leastTime.headerTime, sample.header)
        }
    }

    /// `least_time`'s current average for `peer` (ms): the header's or the last byte's, as configured.
    func leastTimeAverage(of peer: PeerID) -> Double? {
        guard case .leastTime(let lastByte, _) = method, peer.index >= 0, peer.index < locations.count else {
            return nil
        }
        let stats = peerState(peer).leastTime
        return Double(lastByte ? stats.responseTime : stats.headerTime)
    }
}
