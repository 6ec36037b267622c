extension ConfigBuilder {
    /// ngx_resolver_create: name servers (`ADDRESS[:PORT]`, port 53 by default, a name resolved now) and the
    /// `valid=`, `ipv4=`, `ipv6=` parameters with nginx's messages; `status_zone=` (nginx Plus) is accepted.
    func parseResolver(_ directive: Directive) throws(ConfigError) -> ResolverSetting {
        var setting = ResolverSetting(servers: [], source: directive.location)
        for argument in directive.arguments {
            let invalid = ConfigError("invalid parameter: \(argument)", at: directive.location)
            if argument.hasPrefix("valid=") {
                guard let valid = Units.seconds(String(argument.dropFirst(6))) else { throw invalid }
                setting.valid = valid
            } else if argument.hasPrefix("ipv4=") || argument.hasPrefix("ipv6=") {
                let value: Bool
                switch argument.dropFirst(5) {
                case "on": value = true
                case "off": value = false
                default: throw invalid
                }
                if argument.hasPrefix("ipv4=") { setting.ipv4 = value } else { setting.ipv6 = value }
            } else if argument.hasPrefix("status_zone=") {
                continue  // nginx Plus's statistics zone: maitred's metrics need none.
            } else {
                let address: ParsedAddress
                switch AddressSyntax.parse(argument, mode: .upstreamServer) {
                case .success(let parsed): address = parsed
                case .failure(let error):
                    throw ConfigError("\(error.text) in resolver \"\(argument)\"", at: directive.location)
                }
                let found = resolve(address.bareHost, port: address.ports?.lowerBound ?? 53)
                if found.isEmpty {
                    throw ConfigError("host not found in resolver \"\(argument)\"", at: directive.location)
                }
                setting.servers += found
            }
        }
        if !setting.ipv4 && !setting.ipv6 {
            throw ConfigError("\"ipv4\" and \"ipv6\" cannot both be \"off\"", at: directive.location)
        }
        if setting.servers.isEmpty {
            throw ConfigError("no name servers defined", at: directive.location)
        }
        return setting
    }

    /// The checks nginx makes on an upstream with `resolve` servers once the http block is read
    /// (ngx_http_upstream_init_round_robin with the zone module): it needs a `zone` and a resolver (its own, or
    /// the http block's).
    func finishResolution(of upstream: inout Upstream) throws(ConfigError) {
        // maitred reads no `resolver` in the stream context: a stream upstream's `resolve` server has none.
        upstream.resolver = upstream.resolver ?? (upstream.context == .http ? httpLayer.resolver : nil)
        upstream.resolverTimeout = upstreamResolverTimeouts[upstream.name] ?? httpLayer.resolverTimeout ?? .seconds(30)
        guard upstream.resolvesAtRunTime else { return }
        let place = "\(upstream.source.file):\(upstream.source.line)"
        guard upstream.zone != nil else {
            throw ConfigError(
                "resolving names at run time requires upstream \"\(upstream.name)\" in \(place) to be in shared memory",
                at: nil)
        }
        guard upstream.resolver != nil else {
            throw ConfigError(
                "no resolver defined to resolve names at run time in upstream \"\(upstream.name)\" in \(place)", at: nil)
        }
    }
}
