/// `upstream NAME { ... }`, or the implicit pool `proxy_pass http://host:port` creates.
public struct Upstream: Sendable {
    public var name: String
    public var servers: [UpstreamServer]
    public var method: BalancingMethodSetting
    /// `keepalive N`: idle pooled connections kept per event loop. nginx ≥ 1.29.7 default 32; 0 turns pooling off.
    public var keepalive: Int
    /// `keepalive_timeout` (upstream context): idle time before a pooled connection is closed. Default 60s.
    public var keepaliveTimeout: TimeSpan
    /// `keepalive_requests`: requests served over one upstream connection before it is closed. Default 1000.
    public var keepaliveRequests: Int
    /// True for pools made from `proxy_pass http://host:port` rather than an `upstream` block.
    public var isImplicit: Bool
    public var source: SourceLocation
    /// `keepalive N local` or the default: idle connections are reused only by the location that opened them
    /// (nginx ≥ 1.29.7). An explicit `keepalive N` without `local` shares them across locations.
    public var keepaliveIsLocal: Bool = true
    /// `keepalive_time`: the longest an upstream connection is kept in use before it is closed. Default 1h.
    public var keepaliveTime: TimeSpan = .seconds(3600)
    /// The upstream's active health check (`check …`), nil without one.
    public var healthCheck: HealthCheck?
    /// `queue N [timeout=T]` (nginx Plus): requests that find no server wait here; nil without one.
    public var queue: UpstreamQueueSettings?
    /// `zone NAME [SIZE]`: the name (nginx requires one for `resolve`).
    public var zone: String?
    /// `state FILE` (nginx Plus): where run-time changes to the peers (weight, down, drain) are kept across
    /// restarts; absolute.
    public var stateFile: String?
    /// The resolver `resolve` servers are looked up with: the upstream's own `resolver`, else http's.
    public var resolver: ResolverSetting?
    /// `resolver_timeout` (the upstream's, else http's; default 30s).
    public var resolverTimeout: TimeSpan = .seconds(30)
    /// Which context's namespace the upstream belongs to: `http { upstream a {} }` and `stream { upstream a {} }`
    /// are two upstreams.
    public var context: ProxyContext = .http
    /// `sticky cookie …` or `sticky route …` (nginx 1.29.6), nil without one.
    public var sticky: StickySetting?

    /// True when some server is re-resolved at run time.
    public var resolvesAtRunTime: Bool { servers.contains { $0.resolution != nil } }

    public init(
        name: String, servers: [UpstreamServer], method: BalancingMethodSetting, keepalive: Int,
        keepaliveTimeout: TimeSpan, keepaliveRequests: Int, isImplicit: Bool, source: SourceLocation
    ) {
        self.name = name
        self.servers = servers
        self.method = method
        self.keepalive = keepalive
        self.keepaliveTimeout = keepaliveTimeout
        self.keepaliveRequests = keepaliveRequests
        self.isImplicit = isImplicit
        self.source = source
    }
}

/// The two proxy contexts of nginx's configuration.
public enum ProxyContext: String, Sendable, Hashable {
    case http
    case stream
}

/// `queue N [timeout=T]`: at most `capacity` requests wait per event loop, each at most `timeout` (default 60s).
public struct UpstreamQueueSettings: Sendable, Equatable {
    public var capacity: Int
    public var timeout: TimeSpan

    public init(capacity: Int, timeout: TimeSpan = .seconds(60)) {
        self.capacity = capacity
        self.timeout = timeout
    }
}

/// What `least_time` measures: the time to the response head, or to its last byte.
public enum LeastTimeMetric: String, Sendable, Equatable {
    /// http's `header`; stream's `first_byte` (the same slot: the first answer from the server).
    case header
    case lastByte = "last_byte"
    /// stream's `connect`.
    case connect
}

public enum BalancingMethodSetting: Sendable, Equatable {
    case roundRobin
    case leastConn
    case ipHash
    /// `hash KEY [consistent]`.
    case hash(key: VariableTemplate, consistent: Bool)
    /// `hash KEY maglev` (ours).
    case maglev(key: VariableTemplate)
    /// `random [two [least_conn | least_time=header|last_byte]]` (`least_time=`: nginx Plus's form).
    case random(two: Bool, leastTime: LeastTimeMetric? = nil)
    /// `least_time header|last_byte [inflight]` (nginx 1.31).
    case leastTime(LeastTimeMetric, inflight: Bool)
}

/// One `server` line inside `upstream`.
public struct UpstreamServer: Sendable, Equatable {
    /// The address as written (`app1.example.com:8080`), used as the peer's name.
    public var name: String
    /// Addresses the name resolved to at load time, in resolver order; each becomes one peer.
    public var addresses: [ResolvedAddress]
    public var weight: Int
    public var maxFails: Int
    public var failTimeout: TimeSpan
    public var backup: Bool
    public var down: Bool
    /// `max_conns=N` (0: no limit).
    public var maxConns = 0
    /// `slow_start=TIME` (nginx Plus; zero: none).
    public var slowStart: TimeSpan = .zero
    /// `route=STRING`: the server's sticky ID instead of the MD5 of its address.
    public var route: String?
    /// `resolve` (with `service=`): looked up at run time rather than at load; `addresses` starts empty then
    /// (the name has no peers until the resolver answers).
    public var resolution: ServerResolution?
    public var source: SourceLocation

    public init(
        name: String, addresses: [ResolvedAddress], weight: Int = 1, maxFails: Int = 1,
        failTimeout: TimeSpan = .seconds(10), backup: Bool = false, down: Bool = false, source: SourceLocation
    ) {
        self.name = name
        self.addresses = addresses
        self.weight = weight
        self.maxFails = maxFails
        self.failTimeout = failTimeout
        self.backup = backup
        self.down = down
        self.source = source
    }
}

/// A numeric socket address: what a `server` name resolved to.
public struct ResolvedAddress: Sendable, Hashable, CustomStringConvertible {
    /// Numeric IP (`10.0.0.1`, `::1`).
    public var ip: String
    public var port: Int
    public init(ip: String, port: Int) {
        self.ip = ip
        self.port = port
    }
    public var isIPv6: Bool { ip.contains(":") }
    /// nginx's text form: `10.0.0.1:80`, `[::1]:80`.
    public var description: String { isIPv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
}

/// `sticky` (nginx 1.29.6's ngx_http_upstream_sticky_module): how a request names its server.
public enum StickySetting: Sendable, Equatable {
    /// `sticky cookie NAME …`: the server ID comes in cookie NAME and every proxied response sets it.
    case cookie(StickyCookie)
    /// `sticky route $a $b …`: the first non-empty variable is the server ID (a `route=` or the address MD5).
    case route([Variable])
    /// `sticky learn create=… lookup=… zone=NAME:SIZE [timeout=T] [header]`: sessions the servers create are
    /// remembered with the server that created them.
    case learn(StickyLearn)
}

/// `sticky learn`: where a session id comes from when a server creates it (`create=`, read from its response)
/// and when a client brings it back (`lookup=`), and how long an unused session is kept.
public struct StickyLearn: Sendable, Equatable {
    public var create: [StickyCreateSource]
    public var lookup: [Variable]
    /// `zone=NAME:SIZE`: the table's name, and how many sessions it holds (SIZE / 128, as nginx's "1m ≈ 8000").
    public var zone: String
    public var capacity: Int
    /// `timeout=`: an unused session is forgotten after this long (default 10m).
    public var timeout: TimeSpan
    /// `header`: learnt when the response head arrives rather than when the request ends.
    public var afterHeaders: Bool
    /// `sync`: sessions are shared with other maitred instances through `zone_sync_redis`.
    public var sync = false

    public init(
        create: [StickyCreateSource], lookup: [Variable], zone: String, capacity: Int, timeout: TimeSpan,
        afterHeaders: Bool
    ) {
        self.create = create
        self.lookup = lookup
        self.zone = zone
        self.capacity = capacity
        self.timeout = timeout
        self.afterHeaders = afterHeaders
    }
}

/// A `create=` variable: a cookie the upstream sets (`$upstream_cookie_NAME`), one of its headers
/// (`$upstream_http_NAME`), or a request variable.
public enum StickyCreateSource: Sendable, Equatable {
    case upstreamCookie(String)
    case upstreamHeader(String)
    case variable(Variable)
}

/// The cookie `sticky cookie` sets: `NAME=SID[; expires=…; max-age=…][; domain=…][; httponly][; secure]
/// [; samesite=…][; path=…]`, in nginx's order.
public struct StickyCookie: Sendable, Equatable {
    public var name: String
    /// `expires=TIME` in seconds, or `max` (nil: a session cookie).
    public var expires: StickyExpiry?
    public var domain: String?
    public var path: String?
    public var httpOnly = false
    public var secure = false
    public var sameSite: String?

    public init(name: String) {
        self.name = name
    }
}

public enum StickyExpiry: Sendable, Equatable {
    case seconds(Int64)
    case max
}
