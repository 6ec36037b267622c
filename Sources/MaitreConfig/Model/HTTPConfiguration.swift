/// `http { }`: upstream pools and virtual servers, with every inheritable setting already merged down
/// (http → server → location) as nginx merges them.
public struct HTTPConfiguration: Sendable {
    /// Explicit `upstream` blocks, and the implicit ones `proxy_pass http://host:port` creates, in definition order.
    public var upstreams: [Upstream]
    public var servers: [VirtualServer]
    /// `zone_sync_redis`: where `sticky learn … sync` sessions are shared (nil: not configured).
    public var zoneSync: ZoneSyncRedis?

    public init(upstreams: [Upstream], servers: [VirtualServer]) {
        self.upstreams = upstreams
        self.servers = servers
    }

    public func upstream(named name: String) -> Upstream? { upstreams.first { $0.name == name } }
}

/// One `server { }` block.
public struct VirtualServer: Sendable {
    public var listens: [Listen]
    /// `server_name` values as written (lowercased); `""` matches requests without Host. Default `[""]`.
    public var serverNames: [ServerName]
    /// Top-level locations in the order written (nested ones under `Location.children`).
    public var locations: [Location]
    /// Settings of the server level, used when no location matches (nginx then answers 404).
    public var settings: ProxySettings
    public var source: SourceLocation
    /// A `return` written at server level. nginx runs it in the server rewrite phase, before any location is looked
    /// up, so when set it answers every request to this server.
    public var returnAction: ReturnAction? = nil

    public init(
        listens: [Listen], serverNames: [ServerName], locations: [Location], settings: ProxySettings,
        source: SourceLocation
    ) {
        self.listens = listens
        self.serverNames = serverNames
        self.locations = locations
        self.settings = settings
        self.source = source
    }
}

public enum ServerName: Sendable, Equatable, Hashable {
    case exact(String)
    /// `*.example.com` or `.example.com` (the latter also matches `example.com` itself): stored as the suffix after `*`, e.g. `.example.com`.
    case leadingWildcard(suffix: String, matchesBareDomain: Bool)
    /// `www.example.*`: stored as the prefix before `*`, e.g. `www.example.`.
    case trailingWildcard(prefix: String)
}

/// `listen [ADDR:]PORT [default_server] [reuseport] [backlog=N]`.
public struct Listen: Sendable, Equatable, Hashable {
    /// Literal IP address (`0.0.0.0` when omitted; `::` style for `[::]:80`).
    public var host: String
    public var port: Int
    public var defaultServer: Bool
    public var reusePort: Bool
    /// nginx default 511.
    public var backlog: Int
    public var source: SourceLocation
    /// `udp` (stream only): a datagram socket.
    public var udp = false
    /// `proxy_protocol`: every connection starts with a PROXY protocol header (v1 or v2).
    public var proxyProtocol = false

    public init(host: String, port: Int, defaultServer: Bool, reusePort: Bool, backlog: Int, source: SourceLocation) {
        self.host = host
        self.port = port
        self.defaultServer = defaultServer
        self.reusePort = reusePort
        self.backlog = backlog
        self.source = source
    }

    /// The socket this listen binds; several servers may share one.
    public var endpoint: ListenEndpoint { ListenEndpoint(host: host, port: port, udp: udp) }
}

public struct ListenEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// A UDP socket: the same address and port over TCP is another endpoint.
    public var udp: Bool
    public init(host: String, port: Int, udp: Bool = false) {
        self.host = host
        self.port = port
        self.udp = udp
    }
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One `location` block.
///
/// A class, built once at load and never changed: the per-request location lookup hands out a reference instead of
/// copying the settings (a copy of ProxySettings costs a retain per field).
public final class Location: Sendable {
    public let match: LocationMatch
    /// Locations nested inside this one, in written order.
    public let children: [Location]
    /// The content handler: `proxy_pass` or `return` (return wins, as nginx runs the rewrite phase first).
    public let handler: LocationHandler?
    public let settings: ProxySettings
    public let source: SourceLocation
    /// `settings.proxySetHeaders` prepared once for the per-request upstream head.
    public let preparedHeaders: [PreparedHeader]
    /// Which idle upstream connections this location may reuse under `keepalive N local` (nginx matches the
    /// location's upstream configuration). Derived from where the block is written and what it matches, so an
    /// unchanged location keeps its tag across a reload and its pooled connections stay usable.
    public let poolTag: Int

    public init(
        match: LocationMatch, children: [Location], handler: LocationHandler?, settings: ProxySettings,
        source: SourceLocation
    ) {
        self.match = match
        self.children = children
        self.handler = handler
        self.settings = settings
        self.source = source
        self.preparedHeaders = settings.proxySetHeaders.map(PreparedHeader.init)
        var hasher = Hasher()
        hasher.combine(source)
        switch match {
        case .exact(let path): hasher.combine(0); hasher.combine(path)
        case .prefix(let path, let stops): hasher.combine(stops ? 1 : 2); hasher.combine(path)
        case .regex: hasher.combine(3)
        }
        self.poolTag = hasher.finalize()
    }
}

/// One `proxy_set_header` as the request path uses it: the name also as lowercase bytes (compared with raw
/// header names), the value rendered once when it holds no variable.
public struct PreparedHeader: Sendable {
    public let name: String
    public let lowercasedName: [UInt8]
    public let template: VariableTemplate
    /// The value when it has no variables (nil otherwise).
    public let constantValue: String?
    /// `Content-Length` or `Transfer-Encoding`: the proxy writes the framing itself.
    public let isFraming: Bool

    public init(_ setting: HeaderSetting) {
        name = setting.name
        lowercasedName = Array(setting.name.lowercased().utf8)
        template = setting.value
        constantValue = setting.value.constantValue
        isFraming = lowercasedName.elementsEqual("content-length".utf8)
            || lowercasedName.elementsEqual("transfer-encoding".utf8)
    }
}

public enum LocationMatch: Sendable {
    /// `location = /uri`
    case exact(String)
    /// `location /uri` (stopsRegexSearch false) or `location ^~ /uri` (true).
    case prefix(String, stopsRegexSearch: Bool)
    /// `location ~ re` / `location ~* re`, compiled at load.
    case regex(LocationRegex)
}

public enum LocationHandler: Sendable {
    case proxyPass(ProxyPass)
    case `return`(ReturnAction)
    /// The upstream check module's status page.
    case checkStatus(CheckStatusFormat)
    /// nginx's `stub_status`: connection and request counts in its plain-text format.
    case stubStatus
    /// maitred's `metrics`: Prometheus's text format.
    case metrics
    /// maitred's `status`: the live status page (HTML) and its JSON document (`?format=json`).
    case statusPage
    /// nginx Plus's `api`: the JSON runtime API (see docs/api.md).
    case api(APISettings)
}

/// `api [write=on|off]`.
public struct APISettings: Sendable, Equatable {
    /// PATCH (and the other write methods) are taken; off, they are refused with 405.
    public var write: Bool

    public init(write: Bool) {
        self.write = write
    }
}

/// `check_status [html|csv|json]`.
public enum CheckStatusFormat: String, Sendable, Equatable {
    case html, csv, json
}

/// `proxy_pass http://NAME[:PORT][/URI]`. A class: every request reads its location's handler, and copying a
/// struct of three strings out of the enum retained each of them.
public final class ProxyPass: Sendable, Equatable {
    /// The upstream the request goes to: an explicit block, or the implicit one made for a host:port.
    public let upstreamName: String
    /// `$proxy_host`: the host (and port when not 80) as written after `http://`.
    public let proxyHost: String
    /// The URI part, when given (even `/`): replaces the matched location prefix, as nginx does.
    public let uri: String?
    public init(upstreamName: String, proxyHost: String, uri: String?) {
        self.upstreamName = upstreamName
        self.proxyHost = proxyHost
        self.uri = uri
    }

    public static func == (lhs: ProxyPass, rhs: ProxyPass) -> Bool {
        lhs.upstreamName == rhs.upstreamName && lhs.proxyHost == rhs.proxyHost && lhs.uri == rhs.uri
    }
}

/// `return CODE [TEXT|URL]` or `return URL`.
public struct ReturnAction: Sendable {
    public var status: Int
    /// Body text for codes other than 301, 302, 303, 307, 308; the Location for those.
    public var text: VariableTemplate?
    public init(status: Int, text: VariableTemplate?) {
        self.status = status
        self.text = text
    }
}
