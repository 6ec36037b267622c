/// One upstream's peers with their live counters and the balancing method. A value type the caller owns and confines to one
/// event loop (nginx keeps this per worker process; maitred keeps one per event loop); it is never shared across threads.
///
/// Per request: `startRequest`, then `select` / `release` for each attempt while `triesLeft > 0` and the failure is retryable.
///
/// Not `Sendable`: its `PeerCounters` are shared with the other balancers of the same loop (see `init`).
public struct UpstreamBalancer {
    public let method: BalancingMethod
    /// The peers as configured; `PeerID.index` indexes this array.
    public let peers: [PeerDescriptor]

    /// Internal rather than private so `UpstreamBalancer+Admin.swift` can change weights and admin states.
    var lists: UpstreamPeers
    /// For each `PeerID.index`: which list holds it and where.
    let locations: [PeerLocation]
    /// `hash … consistent`: the ketama ring of the primaries (nil for other methods).
    let points: ConsistentHashPoints?
    /// `hash … maglev`: the lookup table of the primaries (nil for other methods).
    let maglev: MaglevTable?
    /// The random methods' generator (this balancer's own: one per event loop).
    var random = SplitMix64()
    /// For each `PeerID.index`: where this loop counts the peer's requests.
    let counters: [PeerCounters]

    struct PeerLocation: Sendable {
        let isBackup: Bool
        let position: Int
    }

    /// `counters`, one per peer in `peers` order, are where selections and failures are counted: the loop passes the
    /// cells it keeps per registry record, so the balancer of the next reload and this one (still released into by
    /// requests in flight) add to the same totals. Without them (or with a count that does not match) each peer
    /// gets a fresh cell of its own.
    public init(method: BalancingMethod, peers: [PeerDescriptor], counters: [PeerCounters]? = nil) {
        self.method = method
        self.peers = peers
        if let counters, counters.count == peers.count {
            self.counters = counters
        } else {
            self.counters = peers.map { _ in PeerCounters() }
        }
        // ngx_http_upstream_init_round_robin: primaries and backups become two lists, each in config order.
        // slow_start is ignored under ip_hash, as nginx Plus refuses it there (a server written before `ip_hash`).
        let members = peers.enumerated().map { offset, descriptor in
            var used = descriptor
            if !method.acceptsBackups { used.slowStartMilliseconds = 0 }
            return (id: PeerID(index: offset), descriptor: used)
        }
        let primaries = members.filter { !$0.descriptor.backup }
        let backups = members.filter { $0.descriptor.backup }
        var locations = [PeerLocation](repeating: PeerLocation(isBackup: false, position: 0), count: peers.count)
        for (position, member) in primaries.enumerated() {
            locations[member.id.index] = PeerLocation(isBackup: false, position: position)
        }
        for (position, member) in backups.enumerated() {
            locations[member.id.index] = PeerLocation(isBackup: true, position: position)
        }
        self.locations = locations
        // nginx refuses `backup` with ip_hash at config time; should one get here anyway it is kept out of selection and tries.
        // nginx's hash methods drop NGX_HTTP_UPSTREAM_BACKUP as ip_hash does.
        lists = UpstreamPeers(
            primary: PeerList(primaries), backup: PeerList(backups),
            backupsUsable: method.acceptsBackups)
        points = method == .consistentHash
            ? ConsistentHashPoints(primaries: primaries.map { ($0.descriptor.name, $0.descriptor.weight) }) : nil
        maglev = method == .maglev
            ? MaglevTable(primaries: primaries.map {
                ($0.descriptor.name + " " + $0.descriptor.address, $0.descriptor.weight)
            }) : nil
    }

    /// Live counters of one peer.
    public func state(of peer: PeerID) -> PeerLiveState {
        peerState(peer).live
    }

    /// The weight scale of the list holding `peer`.
    func weightScale(of peer: PeerID) -> Int {
        locations[peer.index].isBackup ? lists.backup.weightScale : lists.primary.weightScale
    }

    func peerState(_ peer: PeerID) -> PeerState {
        let location = locations[peer.index]
        return (location.isBackup ? lists.backup : lists.primary).peers[location.position]
    }

    mutating func modifyPeerState(_ peer: PeerID, _ change: (inout PeerState) -> Void) {
        let location = locations[peer.index]
        if location.isBackup {
            change(&lists.backup.peers[location.position])
        } else {
            change(&lists.primary.peers[location.position])
        }
    }

    /// Starts a request (ngx_http_upstream_init_round_robin_peer and friends, then ngx_http_upstream_init_request's cap):
    /// tries = non-down primaries + non-down backups, capped by `nextUpstreamTries` (proxy_next_upstream_tries) when > 0.
    /// `mutating` although it changes nothing: callers keep balancers in arrays, and a non-mutating call on an element
    /// copies the whole balancer (a retain per field, about 600 instructions) on every request.
    public mutating func startRequest(
        client: ClientAddressKey, hashKey: [UInt8] = [], nextUpstreamTries: Int
    ) -> PeerSelectionState {
        var tries = lists.tries
        if nextUpstreamTries > 0 && tries > nextUpstreamTries {
            tries = nextUpstreamTries
        }
        return PeerSelectionState(
            triesLeft: tries,
            triedCapacity: max(lists.primary.count, lists.backup.count),
            client: client,
            hashKey: hashKey
        )
    }

    /// Picks the next peer for this request (first attempt or a retry), or nil when none is available ("no live upstreams").
    /// `now` is whole seconds (nginx's ngx_time()), `nowMilliseconds` the same clock in milliseconds for
    /// `slow_start` ramps (nil: `now` × 1000). Counts the connection, marks the peer tried and applies the
    /// `checked` update.
    public mutating func select(_ request: inout PeerSelectionState, now: Int64, nowMilliseconds: Int64? = nil) -> PeerID? {
        let milliseconds = nowMilliseconds ?? now &* 1000
        if !request.stickyHint.isEmpty, !lists.single,
            let chosen = selectSticky(&request, now: now, milliseconds: milliseconds)
        {
            counters[chosen.index].selected += 1
            counters[chosen.index].active += 1
            return chosen
        }
        let selected: PeerID?
        switch method {
        case .roundRobin:
            selected = SmoothWeightedRoundRobin.select(&request, from: &lists, now: now, milliseconds: milliseconds)
        case .leastConn:
            selected = LeastConnections.select(&request, from: &lists, now: now, milliseconds: milliseconds)
        case .leastTime(let measure, let inflight):
            selected = LeastTime.select(
                &request, from: &lists, measure: measure, inflight: inflight, now: now, milliseconds: milliseconds)
        case .ipHash:
            selected = IPHash.select(&request, from: &lists, now: now, milliseconds: milliseconds)
        case .hash:
            selected = Hash.select(&request, from: &lists, now: now, milliseconds: milliseconds)
        case .maglev:
            if let maglev {
                selected = Maglev.select(&request, from: &lists, table: maglev, now: now, milliseconds: milliseconds)
            } else {
                selected = SmoothWeightedRoundRobin.select(&request, from: &lists, now: now, milliseconds: milliseconds)
            }
        case .random, .randomTwo:
            selected = RandomChoice.select(
                &request, from: &lists, two: method == .randomTwo, leastTime: false, random: &random, now: now,
                milliseconds: milliseconds)
        case .randomTwoLeastTime:
            selected = RandomChoice.select(
                &request, from: &lists, two: true, leastTime: true, random: &random, now: now,
                milliseconds: milliseconds)
        case .consistentHash:
            if let points {
                selected = ConsistentHash.select(
                    &request, from: &lists, points: points, now: now, milliseconds: milliseconds)
            } else {
                selected = SmoothWeightedRoundRobin.select(&request, from: &lists, now: now, milliseconds: milliseconds)
            }
        }
        if let selected {
            counters[selected.index].selected += 1
            counters[selected.index].active += 1
        }
        return selected
    }

    /// The peer the request's sticky hint names, taken when it may serve (`Sticky.find`); round robin adjusts its
    /// weights as nginx does, the other methods take it as it is. The single-peer shortcut ignores hints, as the
    /// answer is the same peer.
    private mutating func selectSticky(_ request: inout PeerSelectionState, now: Int64, milliseconds: Int64) -> PeerID? {
        let useBackups = request.usingBackups
        guard let position = Sticky.find(
            request.stickyHint, in: useBackups ? lists.backup : lists.primary, tried: request.tried, now: now)
        else { return nil }
        if useBackups {
            if method == .roundRobin {
                Sticky.roundRobin(position, in: &lists.backup, tried: request.tried, now: now, milliseconds: milliseconds)
            }
            return lists.backup.take(position, marking: &request.tried, now: now)
        }
        if method == .roundRobin {
            Sticky.roundRobin(position, in: &lists.primary, tried: request.tried, now: now, milliseconds: milliseconds)
        }
        return lists.primary.take(position, marking: &request.tried, now: now)
    }

    /// `peer`'s sticky server ID: what a `sticky cookie` response sets.
    public func serverID(of peer: PeerID) -> [UInt8] {
        let location = locations[peer.index]
        return (location.isBackup ? lists.backup : lists.primary).serverIDs[location.position]
    }

    /// The request is done with `peer` (ngx_http_upstream_free_round_robin_peer): conns--, tries--, and max_fails/fail_timeout
    /// accounting. For the `single` peer failures are not counted and no retry is left (nginx sets tries to 0).
    /// Returns true when nginx would log "upstream server temporarily disabled" (a failure leaving fails >= max_fails).
    @discardableResult
    public mutating func release(_ peer: PeerID, _ request: inout PeerSelectionState, outcome: PeerOutcome, now: Int64) -> Bool {
        let location = locations[peer.index]
        counters[peer.index].active -= 1
        if outcome == .failure {
            counters[peer.index].failed += 1
        }
        if lists.single {
            lists.primary.peers[location.position].recordSinglePeerRelease()
            request.triesLeft = 0
            return false
        }
        let disabled: Bool
        if location.isBackup {
            disabled = lists.backup.peers[location.position].recordRelease(outcome, now: now)
        } else {
            disabled = lists.primary.peers[location.position].recordRelease(outcome, now: now)
        }
        if request.triesLeft > 0 {
            request.triesLeft -= 1
        }
        if disabled {
            counters[peer.index].disabled += 1
        }
        return disabled
    }

    /// A completed attempt's time for `least_time` (the header time, or the last byte's, as the method says; other
    /// methods ignore it). `milliseconds` is the clock the EWMA decays on.
    public mutating func observeResponse(
        _ peer: PeerID, headerNanoseconds: Int64, lastByteNanoseconds: Int64, milliseconds: Int64
    ) {
        guard case .randomTwoLeastTime(let lastByte) = method, peer.index >= 0, peer.index < locations.count else {
            return
        }
        let sample = lastByte ? lastByteNanoseconds : headerNanoseconds
        guard sample >= 0 else { return }
        let location = locations[peer.index]
        if location.isBackup {
            lists.backup.peers[location.position].responseTime.observe(nanoseconds: sample, at: milliseconds)
        } else {
            lists.primary.peers[location.position].responseTime.observe(nanoseconds: sample, at: milliseconds)
        }
    }

    /// True when the peer can be given to new requests: `up` and not failed max_fails times within fail_timeout
    /// (the `single` peer ignores max_fails, as in nginx). Whether a backup is actually used also depends on the primaries.
    public func isAvailable(_ peer: PeerID, now: Int64) -> Bool {
        let location = locations[peer.index]
        let state = (location.isBackup ? lists.backup : lists.primary).peers[location.position]
        return lists.single ? state.isOffered : state.isSelectable(now: now)
    }
}
