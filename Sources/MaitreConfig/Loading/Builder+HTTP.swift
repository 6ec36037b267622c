extension ConfigBuilder {
    /// `http { }`: read in order, then the checks nginx makes once the block is complete, in nginx's order:
    /// implicit upstreams resolved, settings merged and checked, duplicate locations, server names per address.
    func applyHTTP(_ directive: Directive) throws(ConfigError) {
        let block = directive.block!
        try walk(block, in: .http) { (directive) throws(ConfigError) in
            switch directive.name {
            case "upstream": try applyUpstream(directive)
            case "server": try applyServer(directive)
            case "log_format":
                try applyLogFormat(directive)
            case "zone_sync_redis":
                if zoneSync != nil { throw Self.duplicate(directive) }
                zoneSync = try parseZoneSyncRedis(directive)
            case "check_shm_size":
                // The check module's shared zone; maitred keeps verdicts in its process-wide registry. The size
                // is checked as the module checks it (ngx_parse_size).
                guard Units.size(directive.arguments[0]) != nil else {
                    throw ConfigError("invalid value \"\(directive.arguments[0])\"", at: directive.location)
                }
            default: try applySetting(directive, to: &httpLayer)
            }
        }

        if httpLayer.accessLogs == nil {
            // nginx's default: `access_log logs/access.log combined;` at the http level.
            httpLayer.accessLogs = [AccessLog(path: FileSystem.absolute("logs/access.log", against: prefix), format: .combined)]
        }
        let upstreams = try finishUpstreams()
        var virtualServers: [VirtualServer] = []
        for server in servers {
            let layer = server.layer.merged(over: httpLayer)
            var virtualServer = VirtualServer(
                listens: server.listens, serverNames: [], locations: [],
                settings: try layer.resolved(checkLocation: block.end), source: server.source)
            virtualServer.locations = try buildLocations(server.locations, parent: layer, checkLocation: block.end)
            virtualServer.returnAction = server.returnAction
            virtualServers.append(virtualServer)
        }
        for server in servers { try checkDuplicateLocations(server.locations) }
        try indexServerNames(into: &virtualServers)
        applyEndpointOptions(to: &virtualServers)
        http = HTTPConfiguration(upstreams: upstreams, servers: virtualServers)
        if let use = stickySyncUse, zoneSync == nil {
            throw ConfigError("\"sticky\" directive \"sync\" parameter requires \"zone_sync_redis\" in the http block", at: use)
        }
        http?.zoneSync = zoneSync
    }

    // MARK: server

    private func applyServer(_ directive: Directive) throws(ConfigError) {
        let server = ServerDraft(source: directive.location)
        servers.append(server)
        var sawListen = false
        try walk(directive.block!, in: .server) { (directive) throws(ConfigError) in
            switch directive.name {
            case "listen":
                sawListen = true
                try applyListen(directive, to: server)
            case "server_name":
                try applyServerName(directive, to: server)
            case "location":
                server.locations.append(try applyLocation(directive, parent: nil))
            case "return":
                let action = try parseReturn(directive)
                // The first return runs and ends the rewrite phase; later ones are never reached.
                if server.returnAction == nil { server.returnAction = action }
            default:
                try applySetting(directive, to: &server.layer)
            }
        }
        if !sawListen {
            // nginx listens on *:80 when run as root and *:8000 otherwise; maitred always takes 80.
            try addListen(
                Listen(host: "0.0.0.0", port: 80, defaultServer: false, reusePort: false, backlog: 511,
                       source: directive.location),
                server: server, setsOptions: false, reportedAt: directive.block!.end)
        }
        if server.names.isEmpty {
            server.names = [ServerDraft.WrittenName(text: "", location: directive.location)]
        }
    }

    // MARK: listen

    private static let unsupportedListenParameters: [String] = [
        "bind", "ssl", "http2", "quic", "deferred", "multipath", "rcvbuf=", "sndbuf=",
        "accept_filter=", "fastopen=", "ipv6only=", "so_keepalive=", "setfib=",
    ]

    private func applyListen(_ directive: Directive, to server: ServerDraft) throws(ConfigError) {
        let written = directive.arguments[0]
        func addressError(_ text: String) -> ConfigError {
            ConfigError("\(text) in \"\(written)\" of the \"listen\" directive", at: directive.location)
        }
        if written.lowercased().hasPrefix("unix:") {
            throw addressError("unix domain sockets are not supported")
        }
        let address: ParsedAddress
        switch AddressSyntax.parse(written, mode: .listen) {
        case .success(let parsed): address = parsed
        case .failure(let error): throw addressError(error.text)
        }

        var defaultServer = false
        var reusePort = false
        var backlog = 511
        var setsOptions = false
        var proxyProtocol = false
        for parameter in directive.arguments.dropFirst() {
            if parameter == "proxy_protocol" {
                proxyProtocol = true
            } else if parameter == "default_server" || parameter == "default" {
                defaultServer = true
            } else if parameter == "reuseport" {
                reusePort = true
                setsOptions = true
            } else if parameter.hasPrefix("backlog=") {
                guard let value = Units.integer(String(parameter.dropFirst(8))), value != 0 else {
                    throw ConfigError("invalid backlog \"\(parameter)\"", at: directive.location)
                }
                backlog = value
                setsOptions = true
            } else if Self.unsupportedListenParameters.contains(where: {
                $0.hasSuffix("=") ? parameter.hasPrefix($0) : parameter == $0
            }) {
                throw ConfigError(
                    "the \"\(parameter)\" parameter of the \"listen\" directive is not supported",
                    at: directive.location)
            } else {
                throw ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            }
        }

        let ports = address.ports ?? 80...80
        let hosts = try listenHosts(address, port: ports.lowerBound, addressError: addressError)
        var seen: Set<ListenEndpoint> = []
        for port in ports {
            for host in hosts where seen.insert(ListenEndpoint(host: host, port: port)).inserted {
                var listen = Listen(
                    host: host, port: port, defaultServer: defaultServer, reusePort: reusePort, backlog: backlog,
                    source: directive.location)
                listen.proxyProtocol = proxyProtocol
                try addListen(listen, server: server, setsOptions: setsOptions, reportedAt: directive.location)
            }
        }
    }

    /// The addresses a `listen` binds: the wildcard, a literal, or every address its host name resolves to.
    func listenHosts(
        _ address: ParsedAddress, port: Int, addressError: (String) -> ConfigError
    ) throws(ConfigError) -> [String] {
        if address.isPortOnly || address.host == "*" { return ["0.0.0.0"] }
        if address.isIPv6 { return [IPAddress.canonical(address.bareHost) ?? address.bareHost] }
        if let literal = IPAddress.canonical(address.host), !literal.contains(":") { return [literal] }
        let resolved = resolve(address.host, port: port)
        if resolved.isEmpty { throw addressError("host not found") }
        return resolved.map(\.ip)
    }

    /// ngx_http_add_addresses' checks, in its order.
    private func addListen(
        _ listen: Listen, server: ServerDraft, setsOptions: Bool, reportedAt location: SourceLocation
    ) throws(ConfigError) {
        let endpoint = listen.endpoint
        var state = endpoints[endpoint] ?? EndpointState()
        if endpoints[endpoint] == nil { endpointOrder.append(endpoint) }
        let id = ObjectIdentifier(server)
        if state.serverIDs.contains(id) {
            throw ConfigError("a duplicate listen \(endpoint)", at: location)
        }
        state.serverIDs.append(id)
        if setsOptions {
            if state.options != nil {
                throw ConfigError("duplicate listen options for \(endpoint)", at: location)
            }
            state.options = (listen.reusePort, listen.backlog)
        }
        if listen.defaultServer {
            if state.hasDefaultServer {
                throw ConfigError("a duplicate default server for \(endpoint)", at: location)
            }
            state.hasDefaultServer = true
        }
        endpoints[endpoint] = state
        server.listens.append(listen)
    }

    /// Socket options belong to the address, whichever server's listen wrote them: every listen on it gets them.
    private func applyEndpointOptions(to servers: inout [VirtualServer]) {
        for serverIndex in servers.indices {
            for listenIndex in servers[serverIndex].listens.indices {
                let listen = servers[serverIndex].listens[listenIndex]
                guard let options = endpoints[listen.endpoint]?.options else { continue }
                servers[serverIndex].listens[listenIndex].reusePort = options.reusePort
                servers[serverIndex].listens[listenIndex].backlog = options.backlog
            }
        }
    }

    /// Resolver failures of any kind read as "not found", as getaddrinfo failures do in nginx.
    func resolve(_ host: String, port: Int) -> [ResolvedAddress] {
        if let literal = IPAddress.canonical(host) { return [ResolvedAddress(ip: literal, port: port)] }
        return (try? resolver.resolve(host: host, port: port)) ?? []
    }

    // MARK: server_name

    private func applyServerName(_ directive: Directive, to server: ServerDraft) throws(ConfigError) {
        for written in directive.arguments {
            let first = written.first
            if (first == "*" && (written.count < 3 || written.dropFirst().first != "."))
                || (first == "." && written.count < 2)
            {
                throw ConfigError("server name \"\(written)\" is invalid", at: directive.location)
            }
            if written.contains("/") {
                warn("server name \"\(written)\" has suspicious symbols", at: directive.location)
            }
            if first == "~" {
                throw ConfigError(
                    "regular expression server names are not supported (\"\(written)\")", at: directive.location)
            }
            let name = written.lowercased() == "$hostname" ? FileSystem.hostName() : written.lowercased()
            server.names.append(ServerDraft.WrittenName(text: name, location: directive.location))
        }
    }

    /// ngx_http_server_names for every address: invalid wildcards are errors, a name already taken on the address
    /// is ignored with a warning (the table keeps the first), each server keeps its valid names.
    private func indexServerNames(into virtualServers: inout [VirtualServer]) throws(ConfigError) {
        for (index, server) in servers.enumerated() {
            var names: [ServerName] = []
            for written in server.names {
                guard let name = ServerName(parsing: written.text) else { continue }
                if !names.contains(name) { names.append(name) }
            }
            virtualServers[index].serverNames = names
        }
        // nginx builds the name hash, and so checks names, only for an address several servers share.
        for endpoint in endpointOrder where endpoints[endpoint]!.serverIDs.count > 1 {
            var index = ServerNameIndex<Int>()
            for (serverIndex, server) in servers.enumerated()
            where endpoints[endpoint]!.serverIDs.contains(ObjectIdentifier(server)) {
                for written in server.names {
                    guard let name = ServerName(parsing: written.text) else {
                        throw ConfigError(
                            "invalid server name or wildcard \"\(written.text)\" on \(endpoint)", at: written.location)
                    }
                    if !index.insert(name, value: serverIndex) {
                        warn("conflicting server name \"\(written.text)\" on \(endpoint), ignored", at: nil)
                    }
                }
            }
        }
    }

    // MARK: return

    func parseReturn(_ directive: Directive) throws(ConfigError) -> ReturnAction {
        let first = directive.arguments[0]
        let invalid = ConfigError("invalid return code \"\(first)\"", at: directive.location)
        if let code = Units.integer(first) {
            if code > 999 { throw invalid }
            if directive.arguments.count == 1 { return ReturnAction(status: code, text: nil) }
            return ReturnAction(
                status: code, text: try VariableTemplate.parse(directive.arguments[1], at: directive.location))
        }
        // `return URL` is a 302, recognised by nginx only with these exact (case-sensitive) beginnings.
        if directive.arguments.count == 1
            && (first.hasPrefix("http://") || first.hasPrefix("https://") || first.hasPrefix("$scheme"))
        {
            return ReturnAction(status: 302, text: try VariableTemplate.parse(first, at: directive.location))
        }
        throw invalid
    }
}
