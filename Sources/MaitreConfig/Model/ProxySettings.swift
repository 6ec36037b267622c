/// The settings inheritable through http → server → location, merged as nginx merges them: a level that
/// sets a directive overrides the outer value; `proxy_set_header` lists are inherited only by a level that
/// has none of its own.
public struct ProxySettings: Sendable {
    /// `access_log` lines in force (empty: `off`). Default `logs/access.log combined`, from the http level.
    public var accessLogs: [AccessLog] = []
    /// `set_real_ip_from` (with `real_ip_header proxy_protocol`): peers whose PROXY protocol header gives the
    /// client's address. Read from the connection's default server.
    public var realIPFrom: [IPNetwork] = []
    /// `allow` / `deny` rules in force, in order (empty: every client allowed).
    public var accessRules: [AccessRule] = []
    /// `proxy_http_version 1.0|1.1`. Default 1.1 (nginx ≥ 1.29.7; 1.0 before).
    public var proxyHTTPVersion: HTTPVersionSetting = .http1_1
    /// `proxy_set_header` list after merging, nginx's defaults included (`Host $proxy_host`, `Connection ""`
    /// — i.e. no Connection header since 1.29.7). Entries with an empty value remove the header.
    public var proxySetHeaders: [HeaderSetting] = ProxySettings.defaultProxyHeaders
    public var proxyConnectTimeout: TimeSpan = .seconds(60)
    public var proxySendTimeout: TimeSpan = .seconds(60)
    public var proxyReadTimeout: TimeSpan = .seconds(60)
    /// `proxy_buffer_size`: the most a response head may take. Default 4k (one page).
    public var proxyBufferSize: Int = 4096
    /// `proxy_buffers N SIZE`: default 8 4k.
    public var proxyBuffers: BufferCount = BufferCount(count: 8, size: 4096)
    /// `proxy_busy_buffers_size`: default 8k (2 × proxy_buffer_size).
    public var proxyBusyBuffersSize: Int = 8192
    /// `proxy_next_upstream`: default `error timeout`.
    public var proxyNextUpstream: NextUpstreamConditions = .default
    /// `proxy_next_upstream_tries`: 0 = no limit (default).
    public var proxyNextUpstreamTries: Int = 0
    /// `proxy_next_upstream_timeout`: zero = no limit (default).
    public var proxyNextUpstreamTimeout: TimeSpan = .zero
    /// `client_max_body_size`: default 1m; 0 = no limit.
    public var clientMaxBodySize: Int = 1024 * 1024
    public var clientHeaderTimeout: TimeSpan = .seconds(60)
    public var clientBodyTimeout: TimeSpan = .seconds(60)
    /// `keepalive_timeout TIMEOUT [HEADER_TIMEOUT]`: default 75s; 0 disables client keep-alive.
    public var keepaliveTimeout: TimeSpan = .seconds(75)
    /// The optional second parameter: value of a `Keep-Alive: timeout=N` response header.
    public var keepaliveHeaderTimeout: TimeSpan? = nil
    /// `keepalive_requests` (http/server/location): requests per client connection. Default 1000.
    public var keepaliveRequests: Int = 1000
    /// `large_client_header_buffers N SIZE` (http/server): a request line or header line up to SIZE, the whole
    /// head up to N × SIZE. Default 4 8k.
    public var largeClientHeaderBuffers = BufferCount(count: 4, size: 8192)
    /// `underscores_in_headers on|off`: default off (names with `_` are invalid headers).
    public var underscoresInHeaders = false
    /// `ignore_invalid_headers on|off`: default on (invalid header lines are dropped).
    public var ignoreInvalidHeaders = true
    /// nginx's `absolute_redirect`, `port_in_redirect` and `server_name_in_redirect`: how a redirect of maitred's
    /// own that starts with `/` becomes absolute.
    public var absoluteRedirect = true
    public var portInRedirect = true
    public var serverNameInRedirect = false

    public init() {}

    public static let defaultProxyHeaders: [HeaderSetting] = [
        HeaderSetting(name: "Host", value: VariableTemplate(parts: [.variable(.proxyHost)])),
        HeaderSetting(name: "Connection", value: VariableTemplate(parts: [])),
    ]
}

public enum HTTPVersionSetting: Sendable, Equatable {
    case http1_0
    case http1_1
}

public struct HeaderSetting: Sendable, Equatable {
    /// As written; matching is case-insensitive.
    public var name: String
    public var value: VariableTemplate
    public init(name: String, value: VariableTemplate) {
        self.name = name
        self.value = value
    }
}

public struct BufferCount: Sendable, Equatable {
    public var count: Int
    public var size: Int
    public init(count: Int, size: Int) {
        self.count = count
        self.size = size
    }
}

/// `proxy_next_upstream error | timeout | invalid_header | http_500 | http_502 | http_503 | http_504 | http_403 |
/// http_404 | http_429 | non_idempotent | off ...`.
public struct NextUpstreamConditions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let error = NextUpstreamConditions(rawValue: 1 << 0)
    public static let timeout = NextUpstreamConditions(rawValue: 1 << 1)
    public static let invalidHeader = NextUpstreamConditions(rawValue: 1 << 2)
    public static let http500 = NextUpstreamConditions(rawValue: 1 << 3)
    public static let http502 = NextUpstreamConditions(rawValue: 1 << 4)
    public static let http503 = NextUpstreamConditions(rawValue: 1 << 5)
    public static let http504 = NextUpstreamConditions(rawValue: 1 << 6)
    public static let http403 = NextUpstreamConditions(rawValue: 1 << 7)
    public static let http404 = NextUpstreamConditions(rawValue: 1 << 8)
    public static let http429 = NextUpstreamConditions(rawValue: 1 << 9)
    public static let nonIdempotent = NextUpstreamConditions(rawValue: 1 << 10)
    /// `off`: the empty set.
    public static let `default`: NextUpstreamConditions = [.error, .timeout]
}
