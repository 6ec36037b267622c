/// How an attempt on a peer ended, as nginx's `free` sees it. `.failure` is NGX_PEER_FAILED (error, timeout, invalid header,
/// or a status listed in `proxy_next_upstream`); a 403/404 that moves on (NGX_PEER_NEXT) and any normal completion are `.success`.
public enum PeerOutcome: Sendable {
    case success
    case failure
}

/// max_fails / fail_timeout accounting, as in ngx_http_upstream_get_peer (the availability test and `checked` update) and
/// ngx_http_upstream_free_round_robin_peer (what a finished attempt does to the counters).
extension PeerState {
    /// Failed `max_fails` times and the last failure (or trial pick) is at most `fail_timeout` seconds ago, inclusive as in nginx.
    /// `max_fails=0` disables this.
    func isTemporarilyDisabled(now: Int64) -> Bool {
        maxFails != 0 && fails >= maxFails && now - checked <= failTimeout
    }

    /// The skip conditions every nginx selector applies besides `tried` (max_conns is not supported): `down` and
    /// `drain` both keep new requests away.
    func isSelectable(now: Int64) -> Bool {
        isOffered && !isTemporarilyDisabled(now: now) && !isAtMaxConns
    }

    /// After a pick: if fail_timeout has passed since `checked`, this pick is the trial that may clear `fails` on success.
    mutating func noteSelected(now: Int64) {
        if now - checked > failTimeout {
            checked = now
        }
    }

    /// The non-`single` part of ngx_http_upstream_free_round_robin_peer. Returns true when nginx logs
    /// "upstream server temporarily disabled", i.e. after a failure that leaves `fails >= max_fails` (with max_fails != 0).
    mutating func recordRelease(_ outcome: PeerOutcome, now: Int64) -> Bool {
        var disabled = false
        switch outcome {
        case .failure:
            fails += 1
            accessed = now
            checked = now
            if maxFails != 0 {
                effectiveWeight -= weight / maxFails
                disabled = fails >= maxFails
            }
            if effectiveWeight < 0 {
                effectiveWeight = 0
            }
        case .success:
            // "mark peer live if check passed": only a pick that moved `checked` past the last failure clears the count, so
            // failures accumulate across interleaved successes until fail_timeout passes.
            if accessed < checked {
                // A peer that max_fails had disabled is back: a slow_start ramp begins.
                if maxFails != 0 && fails >= maxFails { startSlowStart() }
                fails = 0
            }
        }
        releaseConnection()
        return disabled
    }

    /// The `single` branch of ngx_http_upstream_free_round_robin_peer: failures are never counted against the only peer.
    mutating func recordSinglePeerRelease() {
        fails = 0
        releaseConnection()
    }

    private mutating func releaseConnection() {
        // nginx's `conns` is unsigned and simply decremented; flooring at zero only matters if a caller releases twice.
        conns = max(0, conns - 1)
    }
}
