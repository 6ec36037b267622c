/// `stream { }`: TCP and UDP proxying (nginx's stream module), with its own upstreams, log formats and servers.
public struct StreamConfiguration: Sendable {
    /// Explicit `upstream` blocks of the stream context and the implicit ones `proxy_pass host:port` creates:
    /// a namespace of their own, as in nginx (an http and a stream upstream may share a name).
    public var upstreams: [Upstream]
    public var servers: [StreamServer]

    public init(upstreams: [Upstream], servers: [StreamServer]) {
        self.upstreams = upstreams
        self.servers = servers
    }
}

/// One `server { }` of the stream context: what it listens on and where it passes connections.
public struct StreamServer: Sendable {
    public var listens: [Listen]
    /// The upstream `proxy_pass` names (an explicit block's name, or `host:port` of an implicit one); nil
    /// without `proxy_pass` (nginx then closes every connection with status 500, "no handler for server").
    public var upstreamName: String?
    /// `return VALUE` (ngx_stream_return_module): the text sent before the connection closes, instead of proxying
    /// (the later of `return` and `proxy_pass` is the server's handler, as in nginx).
    public var returnText: VariableTemplate?
    public var settings: StreamProxySettings
    public var source: SourceLocation

    public init(listens: [Listen], upstreamName: String?, settings: StreamProxySettings, source: SourceLocation) {
        self.listens = listens
        self.upstreamName = upstreamName
        self.settings = settings
        self.source = source
    }
}

/// The stream proxy's settings of one server, merged over the stream level's, with nginx's defaults
/// (ngx_stream_proxy_merge_srv_conf).
public struct StreamProxySettings: Sendable, Equatable {
    /// `proxy_connect_timeout`, default 60s.
    public var connectTimeout: TimeSpan = .seconds(60)
    /// `proxy_timeout`: the longest a session may go without a read or write on either side; default 10m.
    public var timeout: TimeSpan = .seconds(600)
    /// `proxy_next_upstream on|off`: a failed connect tries the next server; default on.
    public var nextUpstream = true
    /// `proxy_next_upstream_tries` (0: no limit).
    public var nextUpstreamTries = 0
    /// `proxy_next_upstream_timeout` (0: no limit).
    public var nextUpstreamTimeout: TimeSpan = .zero
    /// `proxy_buffer_size`: what is read from one side and not yet written to the other; default 16k.
    public var bufferSize = 16384
    /// `proxy_responses N` (UDP): datagrams expected back per client datagram; nil: not limited.
    public var responses: Int?
    /// `proxy_requests N` (UDP): client datagrams after which the session is bound to end (0: no limit).
    public var requests = 0
    /// `proxy_half_close on|off`: each direction is closed on its own; default off.
    public var halfClose = false
    /// `access_log` lines in force (`[]`: off, the stream default).
    public var accessLogs: [AccessLog] = []
    /// `allow` / `deny`, in order.
    public var accessRules: [AccessRule] = []
    /// `proxy_protocol on|v2|off`: the PROXY protocol header sent first on every upstream connection.
    public var proxyProtocol = ProxyProtocolVersion.off
    /// `proxy_protocol_timeout`: how long a `listen … proxy_protocol` connection may take to send its header.
    public var proxyProtocolTimeout: TimeSpan = .seconds(30)
    /// `set_real_ip_from`: peers whose PROXY protocol header gives the client's address (`$remote_addr`).
    public var realIPFrom: [IPNetwork] = []

    public init() {}
}

/// Which PROXY protocol header a balancer sends upstream.
public enum ProxyProtocolVersion: Sendable, Equatable {
    case off
    /// `on`: the text header (version 1).
    case v1
    /// `v2`: the binary header.
    case v2
}
