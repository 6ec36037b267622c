import MaitreBalancing

/// One event loop's request figures for the `metrics` page: requests by server block and status class, and the
/// request and upstream response time histograms. Plain integers on the loop (no atomics): the page reads every
/// loop's through a task on that loop. Only ever touched on its loop.
final class RequestMetrics: RequestEndObserver {
    /// Prometheus's default buckets, in seconds (then +Inf): the metrics page derives them from the finer
    /// `LatencyHistogram`, whose bounds include these.
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Server: Sendable, Equatable {
        /// Requests by the first digit of their status: index 1...5 for 1xx...5xx, 0 for anything else.
        var byClass = [Int](repeating: 0, count: 6)
        /// Complete head to end of response.
        var latency = LatencyHistogram()
        /// Bytes received (request heads and bodies, `$request_length`) and response body bytes sent.
        var receivedBytes = 0
        var sentBodyBytes = 0
    }

    /// One upstream's attempts: the time histogram, retries (attempts after a request's first) and failed
    /// attempts by reason (`error`, `timeout`, `invalid_header`, or `status` for a response proxy_next_upstream
    /// refused).
    struct UpstreamFigures: Sendable, Equatable {
        var histogram = LatencyHistogram()
        var retries = 0
        var failures: [String: Int] = [:]

        static func + (lhs: UpstreamFigures, rhs: UpstreamFigures) -> UpstreamFigures {
            var out = lhs
            out.histogram = out.histogram + rhs.histogram
            out.retries += rhs.retries
            out.failures.merge(rhs.failures, uniquingKeysWith: +)
            return out
        }
    }

    /// A copy to hand to the page's thread.
    struct Snapshot: Sendable {
        var servers: [String: Server] = [:]
        var upstreams: [String: UpstreamFigures] = [:]
        var pool = PoolFigures()
    }

    /// Upstream connections of a loop (or summed): opened, requests sent on a pooled one, open now, idle now.
    struct PoolFigures: Sendable, Equatable {
        var created = 0
        var reused = 0
        var open = 0
        var idle = 0

        static func + (lhs: PoolFigures, rhs: PoolFigures) -> PoolFigures {
            PoolFigures(created: lhs.created + rhs.created, reused: lhs.reused + rhs.reused,
                        open: lhs.open + rhs.open, idle: lhs.idle + rhs.idle)
        }
    }

    /// One cell per server block and per upstream, mutated in place; the last one used is remembered, so a
    /// loop serving one site hashes no name per request.
    private final class ServerCell {
        var value = Server()
    }

    private final class UpstreamCell {
        var value = UpstreamFigures()
    }

    private var servers: [String: ServerCell] = [:]
    private var upstreams: [String: UpstreamCell] = [:]
    private var lastServerName = ""
    private var lastServer: ServerCell?
    private var lastUpstreamName = ""
    private var lastUpstream: UpstreamCell?

    private func server(_ name: String) -> ServerCell {
        if let lastServer, name == lastServerName { return lastServer }
        let cell = servers[name] ?? ServerCell()
        servers[name] = cell
        lastServerName = name
        lastServer = cell
        return cell
    }

    private func upstream(_ name: String) -> UpstreamCell {
        if let lastUpstream, name == lastUpstreamName { return lastUpstream }
        let cell = upstreams[name] ?? UpstreamCell()
        upstreams[name] = cell
        lastUpstreamName = name
        lastUpstream = cell
        return cell
    }

    func requestEnded(_ end: RequestEnd) {
        let status = end.status
        let statusClass = status >= 100 && status < 600 ? status / 100 : 0
        let duration = end.endedAt - end.startedAt
        let server = server(end.serverName)
        server.value.byClass[statusClass] += 1
        server.value.latency.observe(nanoseconds: duration)
        server.value.receivedBytes += end.requestHeadBytes + end.requestBodyBytes
        server.value.sentBodyBytes += end.bodyBytesSent
        guard let attempts = end.upstream, attempts.index < end.snapshot.upstreams.count,
            attempts.index < end.runtime.balancers.count
        else { return }
        let cell = upstream(end.snapshot.upstreams[attempts.index].upstream.name)
        let runtime = end.runtime
        let count = attempts.attempts.count
        cell.value.retries += max(0, count - 1)
        var position = 0
        attempts.attempts.forEach { attempt in
            position += 1
            if let failure = attempt.failure {
                cell.value.failures[Self.reason(failure), default: 0] += 1
            } else if position < count {
                cell.value.failures["status", default: 0] += 1  // a response proxy_next_upstream refused
            }
            guard attempt.responseNanoseconds >= 0 else { return }
            cell.value.histogram.observe(nanoseconds: attempt.responseNanoseconds)
            // Read in place: a copy of the balancer would retain everything it holds.
            runtime.balancers[attempts.index].counterCell(of: attempt.peer)?
                .observeResponse(nanoseconds: attempt.responseNanoseconds)
        }
    }

    var snapshot: Snapshot {
        Snapshot(servers: servers.mapValues(\.value), upstreams: upstreams.mapValues(\.value))
    }

    /// proxy_next_upstream's words for a failure.
    static func reason(_ failure: RetryPolicy.Failure) -> String {
        switch failure {
        case .error: "error"
        case .timeout: "timeout"
        case .invalidHeader: "invalid_header"
        }
    }
}

/// One loop's upstream connection counts, kept by the request path (plain integers: confined to the loop).
final class UpstreamConnectionStats {
    private(set) var created = 0
    private(set) var reused = 0

    func opened() {
        created += 1
    }

    func reusedOne() {
        reused += 1
    }
}

@available(*, unavailable)
extension UpstreamConnectionStats: Sendable {}

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
