/// Where a peer is in its `slow_start` ramp (nginx Plus): after it comes back (its health check passes again, a
/// success clears the failures that had disabled it, or the operator sets it `up`), its weight grows from
/// nothing to the configured weight over `slow_start`. The ramp starts at the first selection pass that sees the
/// peer again, so a peer that comes back while no request arrives starts its ramp with the first one.
enum SlowStartRamp: Sendable, Equatable {
    case none
    /// Came back; the ramp starts at the next selection pass.
    case pending
    /// Ramping since this time (milliseconds of the loop's clock).
    case since(Int64)
}

extension PeerState {
    /// The peer came back into service: with `slow_start`, its ramp begins.
    mutating func startSlowStart() {
        if slowStart > 0 { ramp = .pending }
    }

    /// `value` (a weight) as the ramp scales it, in units of `scale`: the whole of it outside a ramp, a growing
    /// share (at least 1) during one. Moves a pending ramp to its start and ends one that is over.
    mutating func rampedWeight(_ value: Int, scale: Int, milliseconds: Int64) -> Int {
        let full = value * scale
        let elapsed: Int64
        switch ramp {
        case .none:
            return full
        case .pending:
            ramp = .since(milliseconds)
            elapsed = 0
        case .since(let start):
            elapsed = milliseconds - start
        }
        guard elapsed < slowStart else {
            ramp = .none
            return full
        }
        // full ≤ 1e6 × 1000 and elapsed < slowStart: the product stays far inside Int64.
        return max(1, Int(Int64(full) * max(0, elapsed) / slowStart))
    }
}

extension PeerList {
    /// Weights are counted in thousandths in a list where some peer has `slow_start`, so a ramp is fine-grained
    /// even for weight 1; multiplying every weight by one constant leaves nginx's selection order unchanged.
    static func weightScale(for peers: [PeerState]) -> Int {
        peers.contains { $0.slowStart > 0 } ? 1000 : 1
    }

    /// least_conn's weight for the peer at `position`: its configured weight, scaled and ramped.
    mutating func loadWeight(_ position: Int, milliseconds: Int64) -> Int {
        guard weightScale > 1 else { return peers[position].weight }
        return peers[position].rampedWeight(peers[position].weight, scale: weightScale, milliseconds: milliseconds)
    }
}
