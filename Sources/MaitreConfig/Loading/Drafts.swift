/// A `server { }` block while the http block is still being read (upstream names and merged settings come later).
final class ServerDraft {
    struct WrittenName {
        /// Lowercased, as nginx stores it.
        var text: String
        var location: SourceLocation
    }

    let source: SourceLocation
    var listens: [Listen] = []
    var names: [WrittenName] = []
    var locations: [LocationDraft] = []
    var layer = SettingsLayer()
    var returnAction: ReturnAction?

    init(source: SourceLocation) {
        self.source = source
    }
}

/// A `location { }` block before merging.
final class LocationDraft {
    enum Kind { case exact, prefix, prefixStoppingRegex, regex }

    /// nginx's clcf->name: the URI, or the pattern for a regex.
    let name: String
    let kind: Kind
    let match: LocationMatch
    let source: SourceLocation
    var layer = SettingsLayer()
    var proxyPass: ProxyPassDraft?
    var returnAction: ReturnAction?
    /// `check_status`: set, the status page is the content handler (the later of it and `proxy_pass` wins, as
    /// both set nginx's one content handler).
    var checkStatus: CheckStatusFormat?
    var stubStatus = false
    var metrics = false
    /// `status`: the live status page.
    var statusPage = false
    /// `api [write=on|off]`: the runtime API, with whether it takes write methods.
    var api: APISettings?
    var children: [LocationDraft] = []

    init(name: String, kind: Kind, match: LocationMatch, source: SourceLocation) {
        self.name = name
        self.kind = kind
        self.match = match
        self.source = source
    }

    var isStatic: Bool { kind != .regex }
    var isExact: Bool { kind == .exact }
}

/// `proxy_pass` pointing at an entry of the upstream list (explicit block or implicit host:port).
struct ProxyPassDraft {
    var upstreamIndex: Int
    var proxyHost: String
    var uri: String?
    var source: SourceLocation
}

/// One entry of nginx's upstream list (ngx_http_upstream_add): an `upstream` block, or the host a `proxy_pass`
/// names, which becomes an implicit upstream unless a block of that name appears later.
struct UpstreamEntry {
    var host: String
    /// 0 for blocks; the written port, or 80, for proxy_pass targets.
    var port: Int
    var hasNoPort: Bool
    var isExplicit: Bool
    var source: SourceLocation
    var upstream: Upstream?
}

/// Who listens on one address:port, for nginx's duplicate checks.
struct EndpointState {
    var serverIDs: [ObjectIdentifier] = []
    var hasDefaultServer = false
    /// Set once a listen with socket options (`backlog=`, `reuseport`) names this endpoint: only one may.
    var options: (reusePort: Bool, backlog: Int)?
}
