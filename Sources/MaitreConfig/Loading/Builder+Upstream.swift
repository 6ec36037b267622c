extension ConfigBuilder {
    /// nginx ≥ 1.29.7 keeps 32 idle connections per explicit upstream unless told otherwise.
    static let defaultUpstreamKeepalive = 32
    /// Pools made from `proxy_pass http://host:port` get no keep-alive cache: nginx's keepalive module skips
    /// implicit upstreams (ngx_http_upstream_keepalive_init_main_conf, "skip implicit upstreams").
    static let implicitUpstreamKeepalive = 0

    /// ngx_http_upstream_add: finds or creates the upstream-list entry for a host, with its port checks.
    func addUpstreamEntry(
        host: String, port: Int, hasNoPort: Bool, isBlock: Bool, at location: SourceLocation,
        context: ProxyContext = .http
    ) throws(ConfigError) -> Int {
        try withUpstreamEntries(context) { (upstreamEntries) throws(ConfigError) in
            try Self.addUpstreamEntry(
                host: host, port: port, hasNoPort: hasNoPort, isBlock: isBlock, at: location, to: &upstreamEntries)
        }
    }

    /// The upstream list of a context: http's and stream's are separate namespaces.
    func withUpstreamEntries<Result>(
        _ context: ProxyContext, _ body: (inout [UpstreamEntry]) throws(ConfigError) -> Result
    ) throws(ConfigError) -> Result {
        switch context {
        case .http: return try body(&upstreamEntries)
        case .stream: return try body(&streamUpstreamEntries)
        }
    }

    private static func addUpstreamEntry(
        host: String, port: Int, hasNoPort: Bool, isBlock: Bool, at location: SourceLocation,
        to upstreamEntries: inout [UpstreamEntry]
    ) throws(ConfigError) -> Int {
        for (index, entry) in upstreamEntries.enumerated() where entry.host.lowercased() == host.lowercased() {
            if isBlock && entry.isExplicit {
                throw ConfigError("duplicate upstream \"\(host)\"", at: location)
            }
            if entry.isExplicit && !hasNoPort {
                throw ConfigError("upstream \"\(host)\" may not have port \(port)", at: location)
            }
            if isBlock && !entry.hasNoPort {
                throw ConfigError("upstream \"\(host)\" may not have port \(entry.port)", at: entry.source)
            }
            if entry.port != 0 && port != 0 && entry.port != port { continue }
            if isBlock {
                upstreamEntries[index].isExplicit = true
                upstreamEntries[index].port = 0
                upstreamEntries[index].host = host
                upstreamEntries[index].source = location
            }
            return index
        }
        upstreamEntries.append(
            UpstreamEntry(host: host, port: port, hasNoPort: hasNoPort, isExplicit: isBlock, source: location))
        return upstreamEntries.count - 1
    }

    // MARK: upstream { }

    func applyUpstream(_ directive: Directive, context: ProxyContext = .http) throws(ConfigError) {
        let name = directive.arguments[0]
        let index = try addUpstreamEntry(
            host: name, port: 0, hasNoPort: true, isBlock: true, at: directive.location, context: context)

        var servers: [UpstreamServer] = []
        var method = BalancingMethodSetting.roundRobin
        var methodWritten = false
        // ip_hash drops NGX_HTTP_UPSTREAM_BACKUP from the flags: servers written after it may not be `backup`.
        var acceptsBackup = true
        var keepalive: Int?
        var keepaliveIsLocal = true
        var keepaliveTimeout: TimeSpan?
        var keepaliveRequests: Int?
        var keepaliveTime: TimeSpan?
        var health = HealthCheckDraft()
        var queue: UpstreamQueueSettings?
        var zone: String?
        var stateFile: String?
        var resolver: ResolverSetting?
        var resolverTimeout: TimeSpan?
        var sticky: StickySetting?

        try walk(directive.block!, in: context == .http ? .upstream : .streamUpstream) { (directive) throws(ConfigError) in
            switch directive.name {
            case "server":
                servers.append(try parseUpstreamServer(directive, acceptsBackup: acceptsBackup))
            case "least_conn", "ip_hash":
                if methodWritten { warn("load balancing method redefined", at: directive.location) }
                methodWritten = true
                method = directive.name == "ip_hash" ? .ipHash : .leastConn
                acceptsBackup = directive.name != "ip_hash"
            case "hash":
                // ngx_http_upstream_hash: a complex value, then nothing or `consistent`.
                if methodWritten { warn("load balancing method redefined", at: directive.location) }
                methodWritten = true
                let key = try VariableTemplate.parse(directive.arguments[0], at: directive.location, context: context)
                switch directive.arguments.count == 2 ? directive.arguments[1] : "" {
                case "": method = .hash(key: key, consistent: false)
                case "consistent": method = .hash(key: key, consistent: true)
                case "maglev": method = .maglev(key: key)  // maitred's own
                default:
                    throw ConfigError("invalid parameter \"\(directive.arguments[1])\"", at: directive.location)
                }
                acceptsBackup = false
            case "random":
                // ngx_http_upstream_random: nothing, `two`, or `two least_conn` (the only method open source has).
                if methodWritten { warn("load balancing method redefined", at: directive.location) }
                methodWritten = true
                let arguments = directive.arguments
                if let first = arguments.first, first != "two" {
                    throw ConfigError("invalid parameter \"\(first)\"", at: directive.location)
                }
                var leastTime: LeastTimeMetric?
                if arguments.count == 2, arguments[1] != "least_conn" {
                    // nginx Plus's `least_time=header|last_byte`: power of two choices by response time.
                    guard arguments[1].hasPrefix("least_time="),
                        let metric = LeastTimeMetric(rawValue: String(arguments[1].dropFirst(11)))
                    else {
                        throw ConfigError("invalid parameter \"\(arguments[1])\"", at: directive.location)
                    }
                    leastTime = metric
                }
                method = .random(two: !arguments.isEmpty, leastTime: leastTime)
                acceptsBackup = false
            case "least_time":
                // ngx_http_upstream_least_time: an enum slot, then `inflight`.
                if methodWritten { warn("load balancing method redefined", at: directive.location) }
                methodWritten = true
                // http: header | last_byte; stream: connect | first_byte | last_byte.
                let measures: [String: LeastTimeMetric] = context == .http
                    ? ["header": .header, "last_byte": .lastByte]
                    : ["connect": .connect, "first_byte": .header, "last_byte": .lastByte]
                guard let metric = measures[directive.arguments[0]] else {
                    let allowed = context == .http ? "\"header\" or \"last_byte\"" : "\"connect\", \"first_byte\" or \"last_byte\""
                    throw ConfigError("invalid value \"\(directive.arguments[0])\" in \"least_time\" directive, "
                        + "it must be \(allowed)", at: directive.location)
                }
                if directive.arguments.count == 2 && directive.arguments[1] != "inflight" {
                    throw ConfigError("invalid parameter \"\(directive.arguments[1])\"", at: directive.location)
                }
                method = .leastTime(metric, inflight: directive.arguments.count == 2)
            case "keepalive":
                if keepalive != nil { throw Self.duplicate(directive) }
                guard let count = Units.integer(directive.arguments[0]) else {
                    throw ConfigError(
                        "invalid value \"\(directive.arguments[0])\" in \"keepalive\" directive", at: directive.location)
                }
                keepalive = count
                keepaliveIsLocal = false
                if directive.arguments.count == 2 {
                    guard directive.arguments[1] == "local" else {
                        throw ConfigError("invalid parameter \"\(directive.arguments[1])\"", at: directive.location)
                    }
                    keepaliveIsLocal = true
                }
            case "keepalive_timeout":
                keepaliveTimeout = try Self.milliseconds(directive, current: keepaliveTimeout)
            case "keepalive_time":
                keepaliveTime = try Self.milliseconds(directive, current: keepaliveTime)
            case "keepalive_requests":
                keepaliveRequests = try Self.number(directive, current: keepaliveRequests)
            case "check":
                try health.applyCheck(directive)
            case "check_http_send":
                try health.applyHTTPSend(directive)
            case "check_http_expect_alive":
                try health.applyExpectAlive(directive)
            case "resolver":
                if resolver != nil { throw Self.duplicate(directive) }
                resolver = try parseResolver(directive)
            case "resolver_timeout":
                resolverTimeout = try Self.milliseconds(directive, current: resolverTimeout)
            case "zone":
                // maitred's peer registry is process-wide already: the name only satisfies `resolve`'s
                // requirement. The size is checked as nginx does.
                zone = directive.arguments[0]
                if directive.arguments.count == 2 {
                    guard let size = Units.size(directive.arguments[1]) else {
                        throw ConfigError(
                            "invalid zone size \"\(directive.arguments[1])\"", at: directive.location)
                    }
                    if size < 8 * 4096 {  // ngx_http_upstream_zone: at least 8 pages
                        throw ConfigError("zone \"\(directive.arguments[0])\" is too small", at: directive.location)
                    }
                }
            case "check_keepalive_requests":
                try HealthCheckDraft.checkKeepaliveRequests(directive)
            case "state":
                if stateFile != nil { throw Self.duplicate(directive) }
                stateFile = FileSystem.absolute(directive.arguments[0], against: prefix)
            case "queue":
                if queue != nil { throw Self.duplicate(directive) }
                queue = try Self.parseQueue(directive)
            case "sticky":
                if sticky != nil { throw Self.duplicate(directive) }
                sticky = try Self.parseSticky(directive)
                if case .learn(let learn)? = sticky {
                    // One table per zone name, as one shared memory zone cannot serve two upstreams.
                    if let other = stickyZones[learn.zone] {
                        throw ConfigError(
                            "sticky zone \"\(learn.zone)\" is already used in upstream \"\(other)\"",
                            at: directive.location)
                    }
                    stickyZones[learn.zone] = name
                    if learn.sync, stickySyncUse == nil { stickySyncUse = directive.location }
                }
            default:
                throw ConfigError("\"\(directive.name)\" directive is not supported yet", at: directive.location)
            }
        }
        if servers.isEmpty {
            throw ConfigError("no servers are inside upstream", at: directive.block!.end)
        }
        var upstream = Upstream(
            name: name, servers: servers, method: method,
            keepalive: context == .stream ? 0 : keepalive ?? Self.defaultUpstreamKeepalive,
            keepaliveTimeout: keepaliveTimeout ?? .seconds(60), keepaliveRequests: keepaliveRequests ?? 1000,
            isImplicit: false, source: directive.location)
        upstream.keepaliveIsLocal = keepaliveIsLocal
        upstream.keepaliveTime = keepaliveTime ?? .seconds(3600)
        upstream.healthCheck = try health.finish(at: directive.location)
        upstream.queue = queue
        upstream.zone = zone
        upstream.stateFile = stateFile
        upstream.resolver = resolver
        upstream.context = context
        upstream.sticky = sticky
        if let resolverTimeout { upstreamResolverTimeouts[name] = resolverTimeout }
        try withUpstreamEntries(context) { $0[index].upstream = upstream }
    }

    /// nginx Plus's `queue number [timeout=time]`: a positive count, an optional timeout (default 60s).
    private static func parseQueue(_ directive: Directive) throws(ConfigError) -> UpstreamQueueSettings {
        guard let capacity = Units.integer(directive.arguments[0]), capacity > 0 else {
            throw invalidValue(directive)
        }
        var settings = UpstreamQueueSettings(capacity: capacity)
        if directive.arguments.count == 2 {
            let parameter = directive.arguments[1]
            guard parameter.hasPrefix("timeout="), let timeout = Units.milliseconds(String(parameter.dropFirst(8)))
            else {
                throw ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            }
            settings.timeout = timeout
        }
        return settings
    }

    /// Parameters nginx knows but maitred does not implement: refused by name rather than as "invalid".
    private static let unsupportedServerParameters = ["drain"]

    /// ngx_http_upstream_server: parameters first, then the address, resolved now.
    private func parseUpstreamServer(_ directive: Directive, acceptsBackup: Bool) throws(ConfigError) -> UpstreamServer {
        var server = UpstreamServer(name: directive.arguments[0], addresses: [], source: directive.location)
        var resolvesAtRunTime = false
        var service: String?
        for parameter in directive.arguments.dropFirst() {
            let invalid = ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            if parameter.hasPrefix("weight=") {
                guard let weight = Units.integer(String(parameter.dropFirst(7))), weight != 0 else { throw invalid }
                server.weight = weight
            } else if parameter.hasPrefix("max_conns=") {
                guard let maxConns = Units.integer(String(parameter.dropFirst(10))) else { throw invalid }
                server.maxConns = maxConns
            } else if parameter.hasPrefix("max_fails=") {
                guard let maxFails = Units.integer(String(parameter.dropFirst(10))) else { throw invalid }
                server.maxFails = maxFails
            } else if parameter.hasPrefix("fail_timeout=") {
                guard let timeout = Units.seconds(String(parameter.dropFirst(13))) else { throw invalid }
                server.failTimeout = timeout
            } else if parameter.hasPrefix("slow_start=") {
                // nginx Plus: not with ip_hash (nor hash and random, which maitred does not have yet).
                guard acceptsBackup else {
                    throw ConfigError(
                        "balancing method does not support parameter \"\(parameter)\"", at: directive.location)
                }
                guard let time = Units.seconds(String(parameter.dropFirst(11))) else { throw invalid }
                server.slowStart = time
            } else if parameter == "backup" {
                guard acceptsBackup else {
                    throw ConfigError(
                        "balancing method does not support parameter \"\(parameter)\"", at: directive.location)
                }
                server.backup = true
            } else if parameter == "down" {
                server.down = true
            } else if parameter.hasPrefix("route=") {
                let route = String(parameter.dropFirst(6))
                if route.isEmpty { throw ConfigError("route is empty", at: directive.location) }
                if route.utf8.count > 32 { throw ConfigError("route is longer than 32", at: directive.location) }
                server.route = route
            } else if parameter == "resolve" {
                resolvesAtRunTime = true
            } else if parameter.hasPrefix("service=") {
                service = String(parameter.dropFirst(8))
                if service == "" { throw ConfigError("service is empty", at: directive.location) }
            } else if Self.unsupportedServerParameters.contains(where: {
                $0.hasSuffix("=") ? parameter.hasPrefix($0) : parameter == $0
            }) {
                throw ConfigError("parameter \"\(parameter)\" is not supported", at: directive.location)
            } else {
                throw invalid
            }
        }

        let written = directive.arguments[0]
        if service != nil && !resolvesAtRunTime {
            throw ConfigError("service upstream \"\(written)\" requires \"resolve\" parameter", at: directive.location)
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
        let literal = IPAddress.canonical(address.bareHost)
        if service != nil && address.ports != nil {
            throw ConfigError("service upstream \"\(written)\" may not have port", at: directive.location)
        }
        if service != nil && literal != nil {
            throw ConfigError("service upstream \"\(written)\" requires domain name", at: directive.location)
        }
        if resolvesAtRunTime && literal == nil {
            // Looked up at run time only (nginx's `no_resolve`): no peers until the resolver answers.
            server.resolution = ServerResolution(
                host: address.bareHost.lowercased(), port: address.ports?.lowerBound ?? 80, service: service)
            return server
        }
        server.addresses = resolve(address.bareHost, port: address.ports?.lowerBound ?? 80)
        if server.addresses.isEmpty {
            throw ConfigError("host not found in upstream \"\(written)\"", at: directive.location)
        }
        return server
    }

    /// ngx_http_upstream_init_main_conf: entries no block claimed become implicit upstreams, resolved now.
    func finishUpstreams(context: ProxyContext = .http) throws(ConfigError) -> [Upstream] {
        var upstreamEntries = try withUpstreamEntries(context) { $0 }
        for index in upstreamEntries.indices where upstreamEntries[index].upstream == nil {
            let entry = upstreamEntries[index]
            if context == .stream && entry.port == 0 {
                // ngx_stream_upstream_init_round_robin: a name no upstream block claimed needs a port.
                throw ConfigError(
                    "no port in upstream \"\(entry.host)\" in \(entry.source.file):\(entry.source.line)", at: nil)
            }
            let bareHost = entry.host.hasPrefix("[") ? String(entry.host.dropFirst().dropLast()) : entry.host
            let addresses = resolve(bareHost, port: entry.port)
            if addresses.isEmpty {
                throw ConfigError("host not found in upstream \"\(entry.host)\"", at: entry.source)
            }
            let name = "\(entry.host):\(entry.port)"
            upstreamEntries[index].upstream = Upstream(
                name: name, servers: [UpstreamServer(name: name, addresses: addresses, source: entry.source)],
                method: .roundRobin, keepalive: Self.implicitUpstreamKeepalive, keepaliveTimeout: .seconds(60),
                keepaliveRequests: 1000, isImplicit: true, source: entry.source)
            upstreamEntries[index].upstream?.context = context
        }
        try withUpstreamEntries(context) { $0 = upstreamEntries }
        var upstreams = upstreamEntries.compactMap(\.upstream)
        for index in upstreams.indices where !upstreams[index].isImplicit {
            try finishResolution(of: &upstreams[index])
        }
        return upstreams
    }
}
