/// `resolver ADDRESS ... [valid=TIME] [ipv4=on|off] [ipv6=on|off] [status_zone=NAME]`: the DNS servers that
/// names written with `resolve` in an upstream are looked up on at run time.
public struct ResolverSetting: Sendable, Equatable {
    /// Name servers in the order written (a name server written by name counts once per address); port 53 unless
    /// written.
    public var servers: [ResolvedAddress]
    /// `valid=`: overrides the answers' TTL (nil: the TTL decides).
    public var valid: TimeSpan?
    public var ipv4 = true
    public var ipv6 = true
    public var source: SourceLocation

    public init(servers: [ResolvedAddress], valid: TimeSpan? = nil, source: SourceLocation) {
        self.servers = servers
        self.valid = valid
        self.source = source
    }
}

/// How an upstream `server` written with `resolve` is looked up at run time.
public struct ServerResolution: Sendable, Equatable {
    /// The host name to look up (lowercased, no port).
    public var host: String
    /// The port every address gets (ignored for `service=`, whose SRV records carry ports).
    public var port: Int
    /// `service=NAME`: an SRV lookup of `_NAME._tcp.HOST` (a NAME starting with `_` is used as written).
    public var service: String?

    public init(host: String, port: Int, service: String? = nil) {
        self.host = host
        self.port = port
        self.service = service
    }

    /// The name the SRV query asks for, as nginx builds it.
    public var serviceQueryName: String? {
        guard let service else { return nil }
        return service.hasPrefix("_") ? "\(service).\(host)" : "_\(service)._tcp.\(host)"
    }
}
