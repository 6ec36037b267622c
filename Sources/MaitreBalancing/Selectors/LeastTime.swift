/// A peer's response-time figures for `least_time` (nginx 1.31's ngx_http_upstream_least_time_module), in
/// milliseconds as nginx keeps them in `ngx_http_upstream_rr_peer_t`.
struct LeastTimeStats: Sendable, Equatable {
    var connectTime: Int64 = 0
    /// To the response header (http) or the first byte (stream).
    var headerTime: Int64 = 0
    /// To the last byte (the whole session in stream).
    var responseTime: Int64 = 0

    func average(of measure: LeastTimeMeasure) -> Int64 {
        switch measure {
        case .connect: connectTime
        case .header: headerTime
        case .lastByte: responseTime
        }
    }

    mutating func learn(_ measure: LeastTimeMeasure, _ sample: Int64) {
        switch measure {
        case .connect: connectTime = Self.average(connectTime, sample)
        case .header: headerTime = Self.average(headerTime, sample)
        case .lastByte: responseTime = Self.average(responseTime, sample)
        }
    }
    /// `inflight`: the average age of requests still in flight, and what is needed to keep it.
    var inflightTime: Int64 = 0
    var inflightLast: Int64 = 0
    var inflightChanged: Int64 = 0
    var inflightRequests = 0

    /// ngx_http_upstream_response_time_avg: the first sample, then 95% old and 5% new (rounded).
    static func average(_ average: Int64, _ sample: Int64) -> Int64 {
        guard average != 0 else { return max(0, sample) }
        return Int64(0.5 + Double(max(0, sample)) * 0.05 + Double(average) * 0.95)
    }

    /// ngx_http_upstream_least_time_inflight_done: one in-flight request of this peer is over (`last` ms long).
    mutating func inflightDone(last: Int64, now: Int64) {
        if inflightRequests <= 1 {
            inflightLast = 0
        } else {
            inflightLast = max(0, inflightLast + (now - inflightChanged) * Int64(inflightRequests) - last)
            inflightChanged = now
        }
        inflightRequests = max(0, inflightRequests - 1)
    }
}

/// nginx 1.31's `least_time header | last_byte [inflight]` (and stream's `connect | first_byte | last_byte`): the
/// peer with the least estimated time to finish its requests (its average time to connect, to the header or first
/// byte, or to the last byte, decayed for a peer left alone for a while, at least
/// the average age of its in-flight requests with `inflight`, clustered in 20 ms steps and capped at 5 s, times
/// one more than its connections), per weight; ties go round robin. Backups when no primary can serve.
enum LeastTime {
    static func select(
        _ request: inout PeerSelectionState, from upstream: inout UpstreamPeers, measure: LeastTimeMeasure, inflight: Bool,
        now: Int64, milliseconds: Int64
    ) -> PeerID? {
        if upstream.single { return upstream.takeSinglePeer() }
        if !request.usingBackups {
            if let position = choose(
                in: &upstream.primary, tried: request.tried, measure: measure, inflight: inflight, now: now,
                milliseconds: milliseconds)
            {
                return take(
                    position, in: &upstream.primary, &request, inflight: inflight, now: now, milliseconds: milliseconds)
            }
            guard upstream.backupsUsable, upstream.backup.count > 0 else { return nil }
            request.usingBackups = true
            request.tried.removeAll()
        }
        guard let position = choose(
            in: &upstream.backup, tried: request.tried, measure: measure, inflight: inflight, now: now,
            milliseconds: milliseconds)
        else { return nil }
        return take(position, in: &upstream.backup, &request, inflight: inflight, now: now, milliseconds: milliseconds)
    }

    /// ngx_http_upstream_least_time_eta.
    static func eta(_ peer: PeerState, measure: LeastTimeMeasure, now: Int64) -> Int64 {
        var time = peer.leastTime.average(of: measure)
        if now - peer.checked > peer.failTimeout {
            // Once in fail_timeout the time halves, so that a slow peer gets another chance.
            let halvings = (now - peer.checked) / (peer.failTimeout + 1)
            time = halvings >= 63 ? 0 : time >> halvings
        }
        if peer.leastTime.inflightRequests > 0 { time = max(time, peer.leastTime.inflightTime) }
        if time > 5000 {
            time = 5000
        } else {
            time += 20 - time % 20
        }
        return time * Int64(1 + peer.conns)
    }

    private static func choose(
        in list: inout PeerList, tried: TriedPeers, measure: LeastTimeMeasure, inflight: Bool, now: Int64, milliseconds: Int64
    ) -> Int? {
        var best: Int?
        var bestETA: Int64 = 0
        var many = false
        for position in list.peers.indices where !tried.contains(position) && list.peers[position].isSelectable(now: now) {
            let stats = list.peers[position].leastTime
            if stats.inflightRequests > 0 {
                let age = stats.inflightLast / Int64(stats.inflightRequests) + (milliseconds - stats.inflightChanged)
                list.peers[position].leastTime.inflightTime = LeastTimeStats.average(stats.inflightTime, age)
            }
            let eta = eta(list.peers[position], measure: measure, now: now)
            let weight = Int64(list.peers[position].weight)
            if let leader = best {
                let leaderWeight = Int64(list.peers[leader].weight)
                if eta * leaderWeight < bestETA * weight {
                    best = position
                    bestETA = eta
                    many = false
                } else if eta * leaderWeight == bestETA * weight {
                    many = true
                }
            } else {
                best = position
                bestETA = eta
            }
        }
        guard var chosen = best else { return nil }
        if many {
            // Round robin among the peers with the best estimate, from the first of them on. As in nginx the
            // comparison uses the weight of the best so far, which may change during the walk.
            var total = 0
            for position in chosen..<list.peers.count
            where !tried.contains(position) && list.peers[position].isSelectable(now: now) {
                let leaderWeight = Int64(list.peers[chosen].weight)
                guard eta(list.peers[position], measure: measure, now: now) * leaderWeight
                    == bestETA * Int64(list.peers[position].weight)
                else { continue }
                total += list.peers[position].accumulateSmoothWeight(scale: 1, milliseconds: milliseconds)
                if list.peers[position].currentWeight > list.peers[chosen].currentWeight { chosen = position }
            }
            list.peers[chosen].currentWeight -= total
        }
        return chosen
    }

    private static func take(
        _ position: Int, in list: inout PeerList, _ request: inout PeerSelectionState, inflight: Bool, now: Int64,
        milliseconds: Int64
    ) -> PeerID {
        if inflight {
            var stats = list.peers[position].leastTime
            if stats.inflightRequests > 0 {
                stats.inflightLast += (milliseconds - stats.inflightChanged) * Int64(stats.inflightRequests)
            }
            stats.inflightChanged = milliseconds
            stats.inflightRequests += 1
            list.peers[position].leastTime = stats
            request.leastTimeInflight = true
        }
        return list.take(position, marking: &request.tried, now: now)
    }
}
