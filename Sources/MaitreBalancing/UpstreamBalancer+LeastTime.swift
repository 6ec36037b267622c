/// One attempt's times for `least_time`, in milliseconds: to connect (stream), to the header or first byte (nil
/// when none came), to the last byte.
public struct LeastTimeSample: Sendable, Equatable {
    public var connect: Int64?
    public var header: Int64?
    public var lastByte: Int64

    public init(connect: Int64? = nil, header: Int64?, lastByte: Int64) {
        self.connect = connect
        self.header = header
        self.lastByte = lastByte
    }
}

extension UpstreamBalancer {
    /// `least_time … inflight`: the attempt reached the measured step (connected, or got its header or first
    /// byte) after `value` ms (nginx's least_time notify): the average learns it and the request stops counting in
    /// flight. Nothing for other methods or steps.
    public mutating func leastTimeReached(
        _ step: LeastTimeMeasure, _ peer: PeerID, _ request: inout PeerSelectionState, value: Int64, milliseconds: Int64
    ) {
        guard case .leastTime(let measure, true) = method, measure == step, step != .lastByte,
            peer.index >= 0, peer.index < locations.count
        else { return }
        let inflight = request.leastTimeInflight
        request.leastTimeInflight = false
        modifyPeerState(peer) { state in
            state.leastTime.learn(step, value)
            if inflight { state.leastTime.inflightDone(last: value, now: milliseconds) }
        }
    }

    /// The attempt on `peer` is over (nginx's free_least_time_peer, before the round-robin release): it stops
    /// counting in flight (`elapsed` ms after it began), and a successful one (`sample`) updates the averages; the
    /// measured step under `inflight` was learnt when reached. Call before `release`. Nothing for other methods.
    public mutating func leastTimeFinished(
        _ peer: PeerID, _ request: inout PeerSelectionState, sample: LeastTimeSample?, elapsed: Int64,
        milliseconds: Int64
    ) {
        guard case .leastTime(let measure, let inflight) = method, peer.index >= 0, peer.index < locations.count else {
            return
        }
        let wasInflight = request.leastTimeInflight
        request.leastTimeInflight = false
        modifyPeerState(peer) { state in
            if wasInflight { state.leastTime.inflightDone(last: elapsed, now: milliseconds) }
            // Only successful attempts count, so that failing peers do not look fast.
            guard let sample else { return }
            state.leastTime.learn(.lastByte, sample.lastByte)
            if let connect = sample.connect, !(inflight && measure == .connect) { state.leastTime.learn(.connect, connect) }
            if let header = sample.header, header >= 0, !(inflight && measure == .header) {
                state.leastTime.learn(.header, header)
            }
        }
    }

    /// `least_time`'s current average for `peer` (ms), of the configured measure.
    func leastTimeAverage(of peer: PeerID) -> Double? {
        guard case .leastTime(let measure, _) = method, peer.index >= 0, peer.index < locations.count else {
            return nil
        }
        return Double(peerState(peer).leastTime.average(of: measure))
    }
}
