import MaitreBalancing
import MaitreConfig
import NIOCore

/// The balancing side of one stream session, TCP or UDP: its selection on the loop's balancer, the server the
/// current attempt holds (released exactly once, with the attempt's outcome) and every attempt's record.
struct StreamUpstreamChoice {
    let upstreamIndex: Int
    private var selection: PeerSelectionState?
    private(set) var peer: PeerID?
    private(set) var attempts: [StreamAttempt] = []

    init(upstreamIndex: Int) {
        self.upstreamIndex = upstreamIndex
    }

    /// The next server and its address, recorded as a new attempt; nil when the balancer has none ("no live
    /// upstreams": the attempt is recorded under the upstream's name, as nginx prints `$upstream_addr` then).
    mutating func next(
        runtime: LoopRuntime, addresses: ConnectionAddresses, protocolName: String, tries: Int, now: Int64
    ) -> (peer: PeerID, address: SocketAddress)? {
        let plan = runtime.snapshot.upstreams[upstreamIndex]
        if selection == nil {
            selection = runtime.startRequest(
                upstream: upstreamIndex, client: addresses.clientKey,
                hashKey: StreamHashKey.bytes(plan.upstream.method, addresses: addresses, protocolName: protocolName),
                nextUpstreamTries: tries)
        }
        guard var selecting = selection else { return nil }
        let chosen = runtime.select(upstream: upstreamIndex, &selecting)
        selection = selecting
        guard let chosen else {
            attempts.append(StreamAttempt(address: plan.upstream.name, startedAt: now))
            return nil
        }
        peer = chosen
        attempts.append(StreamAttempt(address: plan.peers[chosen.index].address, startedAt: now))
        return (chosen, plan.socketAddresses[chosen.index])
    }

    /// The attempt is over with `peer` at `now` (the loop's clock, ns): the balancer learns the outcome (a
    /// failure counts toward `max_fails`) and, for `least_time`, a successful attempt's times.
    mutating func release(runtime: LoopRuntime, outcome: PeerOutcome, now: Int64) {
        guard let held = peer, var selecting = selection else { return }
        peer = nil
        if let attempt = attempts.last {
            let sample = outcome == .success
                ? LeastTimeSample(
                    connect: attempt.connectNanoseconds >= 0 ? attempt.connectNanoseconds / 1_000_000 : nil,
                    header: attempt.firstByteNanoseconds >= 0 ? attempt.firstByteNanoseconds / 1_000_000 : nil,
                    lastByte: max(0, now - attempt.startedAt) / 1_000_000)
                : nil
            runtime.finishLeastTime(
                held, upstream: upstreamIndex, &selecting, sample: sample, startedAt: attempt.startedAt)
        }
        runtime.release(held, upstream: upstreamIndex, &selecting, outcome: outcome)
        selection = selecting
    }

    /// The current attempt connected at `now`: `$upstream_connect_time`, and `least_time connect … inflight`.
    mutating func connected(at now: Int64, runtime: LoopRuntime) {
        guard !attempts.isEmpty else { return }
        let elapsed = now - attempts[attempts.count - 1].startedAt
        attempts[attempts.count - 1].connectNanoseconds = elapsed
        reached(.connect, runtime: runtime, nanoseconds: elapsed)
    }

    /// `count` bytes came from the server at `now`: `$upstream_bytes_received`, and the first of them
    /// `$upstream_first_byte_time` and `least_time first_byte … inflight`.
    mutating func received(_ count: Int, at now: Int64, runtime: LoopRuntime) {
        guard !attempts.isEmpty else { return }
        let last = attempts.count - 1
        attempts[last].bytesReceived += count
        guard attempts[last].firstByteNanoseconds < 0 else { return }
        attempts[last].firstByteNanoseconds = now - attempts[last].startedAt
        reached(.header, runtime: runtime, nanoseconds: attempts[last].firstByteNanoseconds)
    }

    /// `least_time … inflight`: the attempt connected, or its first byte came, `nanoseconds` after it began.
    private mutating func reached(_ step: LeastTimeMeasure, runtime: LoopRuntime, nanoseconds: Int64) {
        guard let held = peer, var selecting = selection else { return }
        runtime.leastTimeReached(step, held, upstream: upstreamIndex, &selecting, value: nanoseconds / 1_000_000)
        selection = selecting
    }

    /// What the state machines need to decide on the next server after a failure.
    func retryInputs(_ settings: StreamProxySettings, now: Int64) -> StreamSessionState.RetryInputs {
        let first = attempts.first?.startedAt ?? now
        return StreamSessionState.RetryInputs(
            enabled: settings.nextUpstream, triesLeft: selection?.triesLeft ?? 0,
            elapsedMilliseconds: (now - first) / 1_000_000,
            timeoutMilliseconds: settings.nextUpstreamTimeout.milliseconds)
    }

    /// `count` bytes went to the server on the current attempt (`$upstream_bytes_sent`).
    mutating func sent(_ count: Int) {
        guard !attempts.isEmpty else { return }
        attempts[attempts.count - 1].bytesSent += count
    }

    /// The current attempt ends now (its `$upstream_session_time`), unless it already did.
    mutating func endLast(at now: Int64) {
        guard let last = attempts.indices.last, attempts[last].sessionNanoseconds < 0 else { return }
        attempts[last].sessionNanoseconds = now - attempts[last].startedAt
    }

    /// nginx's stream error-log context: `, client: …, server: …, upstream: "…", bytes from/to …`.
    func logContext(
        udp: Bool, addresses: ConnectionAddresses, server: ListenEndpoint, fromClient: Int, toClient: Int
    ) -> String {
        var text = udp ? ", udp client: " : ", client: "
        text += "\(addresses.remoteIP), server: \(server)"
        if let last = attempts.last { text += ", upstream: \"\(last.address)\"" }
        return text + ", bytes from/to client:\(fromClient)/\(toClient), "
            + "bytes from/to upstream:\(attempts.last?.bytesReceived ?? 0)/\(attempts.last?.bytesSent ?? 0)"
    }
}
