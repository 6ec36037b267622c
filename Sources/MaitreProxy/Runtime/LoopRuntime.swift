#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreBalancing
import MaitreConfig
import MaitreWire
import NIOCore

/// The mutable side of a snapshot on one event loop: each upstream's balancer (nginx keeps these per worker;
/// maitred per loop) and its pool of idle connections. Only ever touched on `eventLoop`, so it needs no locks.
final class LoopRuntime {
    let snapshot: ProxySnapshot
    let eventLoop: any EventLoop
    let log: ErrorLog
    var balancers: [UpstreamBalancer]
    let pools: [UpstreamConnectionPool]
    let dates = HTTPDateCache()
    let headBuffers = HeadBufferPool()
    let idleDeadlines: IdleDeadlines
    /// The parse target for every request head on this loop (parsing is synchronous), so connections hold no
    /// field arrays of their own.
    var requestHead = RequestHead()
    /// Scratch for the `proxy_set_header` values of the request being built.
    var headerValues: [String] = []
    private var nextConnectionNumber: UInt64

    init(snapshot: ProxySnapshot, eventLoop: any EventLoop, log: ErrorLog, connectionNumberBase: UInt64) {
        self.snapshot = snapshot
        self.eventLoop = eventLoop
        self.log = log
        self.idleDeadlines = IdleDeadlines(eventLoop: eventLoop)
        self.balancers = snapshot.upstreams.map { UpstreamBalancer(method: $0.method, peers: $0.peers) }
        self.pools = snapshot.upstreams.map {
            UpstreamConnectionPool(
                capacity: $0.upstream.keepalive,
                idleTimeout: .milliseconds($0.upstream.keepaliveTimeout.milliseconds),
                maxRequests: $0.upstream.keepaliveRequests,
                maxLifetime: .milliseconds($0.upstream.keepaliveTime.milliseconds),
                eventLoop: eventLoop)
        }
        self.nextConnectionNumber = connectionNumberBase
    }

    /// nginx numbers connections (`*N` in the error log); each loop counts in its own stride.
    func takeConnectionNumber(stride: UInt64) -> UInt64 {
        nextConnectionNumber += stride
        return nextConnectionNumber
    }

    /// Starts a request on an upstream's balancer. The client key is asked for only by a method that hashes it
    /// (ip_hash).
    func startRequest(
        upstream: Int, client: @autoclosure () -> ClientAddressKey, nextUpstreamTries: Int
    ) -> PeerSelectionState {
        let key = balancers[upstream].method == .ipHash ? client() : .other
        return balancers[upstream].startRequest(client: key, nextUpstreamTries: nextUpstreamTries)
    }

    /// nginx's `ngx_time()`: whole seconds.
    var nowSeconds: Int64 { Int64(time(nil)) }

    func closeIdleConnections() {
        for pool in pools { pool.closeAll() }
    }
}

@available(*, unavailable)
extension LoopRuntime: Sendable {}

/// The `Date` header value, formatted at most once a second per loop.
final class HTTPDateCache {
    private var second: time_t = 0
    private var cached = ""

    var current: String {
        let now = time(nil)
        if now != second {
            second = now
            cached = Self.format(now)
        }
        return cached
    }

    static func format(_ t: time_t) -> String {
        var t = t
        var parts = tm()
        gmtime_r(&t, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

@available(*, unavailable)
extension HTTPDateCache: Sendable {}
