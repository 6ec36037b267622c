/// The stream-level and server-level settings of `stream { }` while it is read (unset: inherit, then nginx's
/// default).
struct StreamSettingsLayer {
    var connectTimeout: TimeSpan?
    var timeout: TimeSpan?
    var nextUpstream: Bool?
    var nextUpstreamTries: Int?
    var nextUpstreamTimeout: TimeSpan?
    var bufferSize: Int?
    var responses: Int?
    var requests: Int?
    var halfClose: Bool?
    var proxyProtocol: ProxyProtocolVersion?
    var proxyProtocolTimeout: TimeSpan?
    /// `access_log` and `allow`/`deny` are read by the http code into a layer of their own.
    var shared = SettingsLayer()

    func merged(over parent: StreamSettingsLayer) -> StreamSettingsLayer {
        var result = self
        result.connectTimeout = connectTimeout ?? parent.connectTimeout
        result.timeout = timeout ?? parent.timeout
        result.nextUpstream = nextUpstream ?? parent.nextUpstream
        result.nextUpstreamTries = nextUpstreamTries ?? parent.nextUpstreamTries
        result.nextUpstreamTimeout = nextUpstreamTimeout ?? parent.nextUpstreamTimeout
        result.bufferSize = bufferSize ?? parent.bufferSize
        result.responses = responses ?? parent.responses
        result.requests = requests ?? parent.requests
        result.halfClose = halfClose ?? parent.halfClose
        result.proxyProtocol = proxyProtocol ?? parent.proxyProtocol
        result.proxyProtocolTimeout = proxyProtocolTimeout ?? parent.proxyProtocolTimeout
        result.shared = shared.merged(over: parent.shared)
        return result
    }

    var resolved: StreamProxySettings {
        var settings = StreamProxySettings()
        if let connectTimeout { settings.connectTimeout = connectTimeout }
        if let timeout { settings.timeout = timeout }
        if let nextUpstream { settings.nextUpstream = nextUpstream }
        if let nextUpstreamTries { settings.nextUpstreamTries = nextUpstreamTries }
        if let nextUpstreamTimeout { settings.nextUpstreamTimeout = nextUpstreamTimeout }
        if let bufferSize { settings.bufferSize = bufferSize }
        settings.responses = responses
        if let requests { settings.requests = requests }
        if let halfClose { settings.halfClose = halfClose }
        if let proxyProtocol { settings.proxyProtocol = proxyProtocol }
        if let proxyProtocolTimeout { settings.proxyProtocolTimeout = proxyProtocolTimeout }
        settings.realIPFrom = shared.realIPFrom ?? []
        settings.accessLogs = shared.accessLogs ?? []  // the stream module logs nothing unless told
        settings.accessRules = shared.accessRules ?? []
        return settings
    }
}

/// A stream `server { }` before merging.
final class StreamServerDraft {
    let source: SourceLocation
    var listens: [Listen] = []
    var upstreamIndex: Int?
    var returnText: VariableTemplate?
    /// Which of `proxy_pass` and `return` came last: it is the handler.
    var returns = false
    var layer = StreamSettingsLayer()

    init(source: SourceLocation) {
        self.source = source
    }
}

extension ConfigBuilder {
    /// `stream { }`: upstreams, log formats and servers in a namespace of their own, read in order; then implicit
    /// upstreams are resolved and each server's settings merged over the stream level's.
    func applyStream(_ directive: Directive) throws(ConfigError) {
        var streamLayer = StreamSettingsLayer()
        var drafts: [StreamServerDraft] = []
        try walk(directive.block!, in: .stream) { (directive) throws(ConfigError) in
            switch directive.name {
            case "upstream": try applyUpstream(directive, context: .stream)
            case "server": drafts.append(try applyStreamServer(directive))
            case "log_format": try applyLogFormat(directive, context: .stream)
            default: try applyStreamSetting(directive, to: &streamLayer)
            }
        }
        let upstreams = try finishUpstreams(context: .stream)
        var servers: [StreamServer] = []
        for draft in drafts {
            let settings = draft.layer.merged(over: streamLayer).resolved
            var server = StreamServer(
                listens: draft.listens, upstreamName: draft.returns ? nil : draft.upstreamIndex.map { upstreams[$0].name },
                settings: settings, source: draft.source)
            server.returnText = draft.returns ? draft.returnText : nil
            servers.append(server)
        }
        stream = StreamConfiguration(upstreams: upstreams, servers: servers)
    }

    private func applyStreamServer(_ directive: Directive) throws(ConfigError) -> StreamServerDraft {
        let server = StreamServerDraft(source: directive.location)
        try walk(directive.block!, in: .streamServer) { (directive) throws(ConfigError) in
            switch directive.name {
            case "listen":
                try applyStreamListen(directive, to: server)
            case "proxy_pass":
                if server.upstreamIndex != nil { throw Self.duplicate(directive) }
                server.upstreamIndex = try applyStreamProxyPass(directive)
                server.returns = false
            case "return":
                if server.returnText != nil { throw Self.duplicate(directive) }
                server.returnText = try VariableTemplate.parse(
                    directive.arguments[0], at: directive.location, context: .stream)
                server.returns = true
            default:
                try applyStreamSetting(directive, to: &server.layer)
            }
        }
        if server.listens.isEmpty {
            throw ConfigError(
                "no \"listen\" is defined for server in \(directive.location.file):\(directive.location.line)",
                at: nil)
        }
        return server
    }

    /// ngx_stream_proxy_pass without variables: an upstream's name, or `host:port` (an implicit upstream).
    private func applyStreamProxyPass(_ directive: Directive) throws(ConfigError) -> Int {
        let written = directive.arguments[0]
        if written.contains("$") {
            throw ConfigError("variables in \"proxy_pass\" are not supported", at: directive.location)
        }
        if written.lowercased().hasPrefix("unix:") {
            throw ConfigError("unix domain sockets are not supported in upstream \"\(written)\"", at: directive.location)
        }
        let address: ParsedAddress
        switch AddressSyntax.parse(written, mode: .upstreamServer) {
        case .success(let parsed): address = parsed
        case .failure(let error):
            throw ConfigError("\(error.text) in upstream \"\(written)\"", at: directive.location)
        }
        let port = address.ports?.lowerBound
        return try addUpstreamEntry(
            host: address.host, port: port ?? 0, hasNoPort: port == nil, isBlock: false, at: directive.location,
            context: .stream)
    }

    private static let unsupportedStreamListenParameters: [String] = [
        "bind", "ssl", "deferred", "multipath", "rcvbuf=", "sndbuf=", "accept_filter=",
        "fastopen=", "ipv6only=", "so_keepalive=", "setfib=",
    ]

    /// ngx_stream_core_listen: a port is required; `udp`, `reuseport`, `backlog=` and `default_server` are read.
    private func applyStreamListen(_ directive: Directive, to server: StreamServerDraft) throws(ConfigError) {
        let written = directive.arguments[0]
        func addressError(_ text: String) -> ConfigError {
            ConfigError("\(text) in \"\(written)\" of the \"listen\" directive", at: directive.location)
        }
        if written.lowercased().hasPrefix("unix:") { throw addressError("unix domain sockets are not supported") }
        let address: ParsedAddress
        switch AddressSyntax.parse(written, mode: .listen) {
        case .success(let parsed): address = parsed
        case .failure(let error): throw addressError(error.text)
        }
        guard let ports = address.ports else { throw addressError("no port") }
        var udp = false
        var reusePort = false
        var backlog: Int?
        var defaultServer = false
        var proxyProtocol = false
        for parameter in directive.arguments.dropFirst() {
            if parameter == "proxy_protocol" {
                proxyProtocol = true
            } else if parameter == "udp" {
                udp = true
            } else if parameter == "reuseport" {
                reusePort = true
            } else if parameter == "default_server" {
                defaultServer = true
            } else if parameter.hasPrefix("backlog=") {
                guard let value = Units.integer(String(parameter.dropFirst(8))), value != 0 else {
                    throw ConfigError("invalid backlog \"\(parameter)\"", at: directive.location)
                }
                backlog = value
            } else if Self.unsupportedStreamListenParameters.contains(where: {
                $0.hasSuffix("=") ? parameter.hasPrefix($0) : parameter == $0
            }) {
                throw ConfigError(
                    "the \"\(parameter)\" parameter of the \"listen\" directive is not supported",
                    at: directive.location)
            } else {
                throw ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            }
        }
        if udp && backlog != nil {
            throw ConfigError("\"backlog\" parameter is incompatible with \"udp\"", at: directive.location)
        }
        if udp && proxyProtocol {
            throw ConfigError("\"proxy_protocol\" parameter is incompatible with \"udp\"", at: directive.location)
        }
        let hosts = try listenHosts(address, port: ports.lowerBound, addressError: addressError)
        for port in ports {
            for host in hosts {
                var listen = Listen(
                    host: host, port: port, defaultServer: defaultServer, reusePort: reusePort,
                    backlog: backlog ?? 511, source: directive.location)
                listen.udp = udp
                listen.proxyProtocol = proxyProtocol
                if server.listens.contains(where: { $0.endpoint == listen.endpoint }) {
                    throw ConfigError("duplicate \"\(listen.endpoint)\" address and port pair", at: directive.location)
                }
                server.listens.append(listen)
            }
        }
    }

    /// The stream proxy's directives (stream and server levels), with nginx's slot semantics.
    private func applyStreamSetting(_ directive: Directive, to layer: inout StreamSettingsLayer) throws(ConfigError) {
        switch directive.name {
        case "proxy_connect_timeout":
            layer.connectTimeout = try Self.milliseconds(directive, current: layer.connectTimeout)
        case "proxy_timeout":
            layer.timeout = try Self.milliseconds(directive, current: layer.timeout)
        case "proxy_next_upstream_timeout":
            layer.nextUpstreamTimeout = try Self.milliseconds(directive, current: layer.nextUpstreamTimeout)
        case "proxy_next_upstream_tries":
            layer.nextUpstreamTries = try Self.number(directive, current: layer.nextUpstreamTries)
        case "proxy_next_upstream":
            layer.nextUpstream = try Self.flag(directive, current: layer.nextUpstream)
        case "proxy_half_close":
            layer.halfClose = try Self.flag(directive, current: layer.halfClose)
        case "proxy_buffer_size":
            layer.bufferSize = try Self.size(directive, current: layer.bufferSize)
        case "proxy_responses":
            layer.responses = try Self.number(directive, current: layer.responses)
        case "proxy_requests":
            layer.requests = try Self.number(directive, current: layer.requests)
        case "proxy_protocol":
            if layer.proxyProtocol != nil { throw Self.duplicate(directive) }
            switch directive.arguments[0] {
            case "on": layer.proxyProtocol = .v1
            case "v2": layer.proxyProtocol = .v2
            case "off": layer.proxyProtocol = .off
            default:
                throw ConfigError(
                    "invalid value \"\(directive.arguments[0])\" in \"proxy_protocol\" directive, "
                        + "it must be \"off\", \"on\" or \"v2\"", at: directive.location)
            }
        case "proxy_protocol_timeout":
            layer.proxyProtocolTimeout = try Self.milliseconds(directive, current: layer.proxyProtocolTimeout)
        case "access_log":
            try applyAccessLog(directive, to: &layer.shared, context: .stream)
        case "allow", "deny", "set_real_ip_from":
            try applySetting(directive, to: &layer.shared)
        default:
            throw ConfigError("\"\(directive.name)\" directive is not supported yet", at: directive.location)
        }
    }
}
