import MaitreBalancing

/// One event loop's request figures for the `metrics` page: requests by server block and status class, and the
/// request and upstream response time histograms. Plain integers on the loop (no atomics): the page reads every
/// loop's through a task on that loop. Only ever touched on its loop.
final class RequestMetrics: RequestEndObserver {
    /// Upper bounds of the time buckets, in seconds (Prometheus's default buckets), then +Inf.
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    private static let boundNanoseconds: [Int64] = bounds.map { Int64($0 * 1_000_000_000) }

    struct Histogram: Sendable, Equatable {
        /// Observations at or under each bound (not cumulative; the page accumulates), the last for +Inf.
        var buckets = [Int](repeating: 0, count: RequestMetrics.bounds.count + 1)
        var sumNanoseconds: Int64 = 0
        var count = 0

        mutating func observe(nanoseconds: Int64) {
            let value = max(0, nanoseconds)
            var index = 0
            while index < RequestMetrics.boundNanoseconds.count, value > RequestMetrics.boundNanoseconds[index] {
                index += 1
            }
            buckets[index] += 1
            sumNanoseconds &+= value
            count += 1
        }

        static func + (lhs: Histogram, rhs: Histogram) -> Histogram {
            var out = lhs
            for index in out.buckets.indices { out.buckets[index] += rhs.buckets[index] }
            out.sumNanoseconds &+= rhs.sumNanoseconds
            out.count += rhs.count
            return out
        }
    }

    struct Server: Sendable, Equatable {
        /// Requests by the first digit of their status: index 1...5 for 1xx...5xx, 0 for anything else.
        var byClass = [Int](repeating: 0, count: 6)
        var duration = Histogram()
        /// The same times in the status page's finer buckets.
        var latency = LatencyHistogram()
    }

    /// A copy to hand to the page's thread.
    struct Snapshot: Sendable {
        var servers: [String: Server] = [:]
        var upstreams: [String: Histogram] = [:]
    }

    private(set) var servers: [String: Server] = [:]
    private(set) var upstreams: [String: Histogram] = [:]

    func requestEnded(_ end: RequestEnd) {
        let status = end.status
        let statusClass = status >= 100 && status < 600 ? status / 100 : 0
        servers[end.serverName, default: Server()].byClass[statusClass] += 1
        servers[end.serverName, default: Server()].duration.observe(nanoseconds: end.endedAt - end.startedAt)
        servers[end.serverName, default: Server()].latency.observe(nanoseconds: end.endedAt - end.startedAt)
        if let upstream = end.upstream, upstream.index < end.snapshot.upstreams.count,
            upstream.index < end.runtime.balancers.count
        {
            let name = end.snapshot.upstreams[upstream.index].upstream.name
            let balancer = end.runtime.balancers[upstream.index]
            upstream.attempts.forEach { attempt in
                guard attempt.responseNanoseconds >= 0 else { return }
                upstreams[name, default: Histogram()].observe(nanoseconds: attempt.responseNanoseconds)
                balancer.counterCell(of: attempt.peer)?.observeResponse(nanoseconds: attempt.responseNanoseconds)
            }
        }
    }

    var snapshot: Snapshot { Snapshot(servers: servers, upstreams: upstreams) }
}

/// Every observer of a loop's request ends, called in turn (the access log and the metrics).
final class RequestEndFanout: RequestEndObserver {
    let observers: [any RequestEndObserver]

    init(_ observers: [any RequestEndObserver]) {
        self.observers = observers
    }

    func requestEnded(_ end: RequestEnd) {
        for observer in observers { observer.requestEnded(end) }
    }
}

@available(*, unavailable)
extension RequestMetrics: Sendable {}

@available(*, unavailable)
extension RequestEndFanout: Sendable {}
