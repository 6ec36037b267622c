extension ConfigBuilder {
    /// The inheritable directives (http, server, location), each with nginx's slot semantics.
    func applySetting(_ directive: Directive, to layer: inout SettingsLayer) throws(ConfigError) {
        let arguments = directive.arguments
        switch directive.name {
        case "proxy_http_version":
            if layer.proxyHTTPVersion != nil { throw Self.duplicate(directive) }
            switch arguments[0] {
            case "1.0": layer.proxyHTTPVersion = .http1_0
            case "1.1": layer.proxyHTTPVersion = .http1_1
            default: throw ConfigError("invalid value \"\(arguments[0])\"", at: directive.location)
            }
        case "proxy_set_header":
            let value = try VariableTemplate.parse(arguments[1], at: directive.location)
            layer.proxySetHeaders = (layer.proxySetHeaders ?? []) + [HeaderSetting(name: arguments[0], value: value)]
        case "proxy_connect_timeout":
            layer.proxyConnectTimeout = try Self.milliseconds(directive, current: layer.proxyConnectTimeout)
        case "proxy_send_timeout":
            layer.proxySendTimeout = try Self.milliseconds(directive, current: layer.proxySendTimeout)
        case "proxy_read_timeout":
            layer.proxyReadTimeout = try Self.milliseconds(directive, current: layer.proxyReadTimeout)
        case "proxy_next_upstream_timeout":
            layer.proxyNextUpstreamTimeout = try Self.milliseconds(directive, current: layer.proxyNextUpstreamTimeout)
        case "client_body_timeout":
            layer.clientBodyTimeout = try Self.milliseconds(directive, current: layer.clientBodyTimeout)
        case "client_header_timeout":
            layer.clientHeaderTimeout = try Self.milliseconds(directive, current: layer.clientHeaderTimeout)
        case "proxy_buffer_size":
            layer.proxyBufferSize = try Self.size(directive, current: layer.proxyBufferSize)
        case "proxy_busy_buffers_size":
            layer.proxyBusyBuffersSize = try Self.size(directive, current: layer.proxyBusyBuffersSize)
        case "client_max_body_size":
            if layer.clientMaxBodySize != nil { throw Self.duplicate(directive) }
            guard let value = Units.offset(arguments[0]) else { throw Self.invalidValue(directive) }
            layer.clientMaxBodySize = value
        case "proxy_buffers":
            layer.proxyBuffers = try Self.buffers(directive, current: layer.proxyBuffers)
        case "large_client_header_buffers":
            layer.largeClientHeaderBuffers = try Self.buffers(directive, current: layer.largeClientHeaderBuffers)
        case "absolute_redirect":
            layer.absoluteRedirect = try Self.flag(directive, current: layer.absoluteRedirect)
        case "port_in_redirect":
            layer.portInRedirect = try Self.flag(directive, current: layer.portInRedirect)
        case "server_name_in_redirect":
            layer.serverNameInRedirect = try Self.flag(directive, current: layer.serverNameInRedirect)
        case "underscores_in_headers":
            layer.underscoresInHeaders = try Self.flag(directive, current: layer.underscoresInHeaders)
        case "ignore_invalid_headers":
            layer.ignoreInvalidHeaders = try Self.flag(directive, current: layer.ignoreInvalidHeaders)
        case "proxy_next_upstream_tries":
            layer.proxyNextUpstreamTries = try Self.number(directive, current: layer.proxyNextUpstreamTries)
        case "keepalive_requests":
            layer.keepaliveRequests = try Self.number(directive, current: layer.keepaliveRequests)
        case "proxy_next_upstream":
            try applyNextUpstream(directive, to: &layer)
        case "access_log":
            try applyAccessLog(directive, to: &layer)
        case "set_real_ip_from":
            // ngx_http_realip_from: an address or a CIDR (`unix:` refused: maitred listens on no unix socket).
            let written = directive.arguments[0]
            guard let network = written == "all" ? IPNetwork("0.0.0.0/0") : IPNetwork(written) else {
                throw ConfigError("invalid parameter \"\(written)\"", at: directive.location)
            }
            layer.realIPFrom = (layer.realIPFrom ?? []) + [network]
            if written == "all", let v6 = IPNetwork("::/0") { layer.realIPFrom?.append(v6) }
        case "real_ip_header":
            guard arguments[0] == "proxy_protocol" else {
                throw ConfigError(
                    "\"real_ip_header \(arguments[0])\" is not supported yet (only proxy_protocol)", at: directive.location)
            }
            layer.realIPHeader = arguments[0]
        case "allow", "deny":
            // ngx_http_access_rule: `all`, an address or a CIDR; host bits past the prefix only warn.
            let written = directive.arguments[0]
            let network: IPNetwork?
            if written == "all" {
                network = nil
            } else if written.hasPrefix("unix:") {
                throw ConfigError("parameter \"\(written)\" is not supported", at: directive.location)
            } else {
                guard let parsed = IPNetwork(written) else {
                    throw ConfigError("invalid parameter \"\(written)\"", at: directive.location)
                }
                if parsed.hadHostBits {
                    warn("low address bits of \(written) are meaningless", at: directive.location)
                }
                network = parsed
            }
            layer.accessRules = (layer.accessRules ?? []) + [AccessRule(allows: directive.name == "allow", network: network)]
        case "resolver":
            if layer.resolver != nil { throw Self.duplicate(directive) }
            layer.resolver = try parseResolver(directive)
        case "resolver_timeout":
            layer.resolverTimeout = try Self.milliseconds(directive, current: layer.resolverTimeout)
        case "keepalive_timeout":
            if layer.keepaliveTimeout != nil { throw Self.duplicate(directive) }
            guard let timeout = Units.milliseconds(arguments[0]) else { throw Self.invalidValue(directive) }
            layer.keepaliveTimeout = timeout
            if arguments.count == 2 {
                guard let header = Units.seconds(arguments[1]) else { throw Self.invalidValue(directive) }
                layer.keepaliveHeaderTimeout = header
            }
        default:
            throw ConfigError("unknown directive \"\(directive.name)\"", at: directive.location)
        }
    }

    /// ngx_conf_set_bufs_slot: `NUMBER SIZE`, both positive, once per level.
    static func buffers(_ directive: Directive, current: BufferCount?) throws(ConfigError) -> BufferCount {
        if current != nil { throw Self.duplicate(directive) }
        guard let count = Units.integer(directive.arguments[0]), count > 0,
            let size = Units.size(directive.arguments[1]), size > 0
        else { throw Self.invalidValue(directive) }
        return BufferCount(count: count, size: size)
    }

    /// ngx_conf_set_flag_slot at an inheritable level: once per level.
    static func flag(_ directive: Directive, current: Bool?) throws(ConfigError) -> Bool {
        if current != nil { throw Self.duplicate(directive) }
        return try flag(directive)
    }

    /// ngx_conf_set_flag_slot: `on` or `off`, any case.
    static func flag(_ directive: Directive) throws(ConfigError) -> Bool {
        switch directive.arguments[0].lowercased() {
        case "on": return true
        case "off": return false
        default:
            throw ConfigError(
                "invalid value \"\(directive.arguments[0])\" in \"\(directive.name)\" directive, it must be \"on\" or \"off\"",
                at: directive.location)
        }
    }

    private static let nextUpstreamValues: [String: NextUpstreamConditions] = [
        "error": .error, "timeout": .timeout, "invalid_header": .invalidHeader, "non_idempotent": .nonIdempotent,
        "http_500": .http500, "http_502": .http502, "http_503": .http503, "http_504": .http504,
        "http_403": .http403, "http_404": .http404, "http_429": .http429,
    ]

    /// ngx_conf_set_bitmask_slot: values accumulate over repeated lines, a repeated value only warns, `off` wins.
    /// `updating` is accepted and has no effect, as it only concerns a cache maitred does not have.
    private func applyNextUpstream(_ directive: Directive, to layer: inout SettingsLayer) throws(ConfigError) {
        var conditions = layer.proxyNextUpstream ?? []
        var seenUpdating = false
        for word in directive.arguments {
            let key = word.lowercased()
            let alreadySet: Bool
            if key == "off" {
                alreadySet = layer.proxyNextUpstreamOff
                layer.proxyNextUpstreamOff = true
            } else if key == "updating" {
                alreadySet = seenUpdating
                seenUpdating = true
            } else if let value = Self.nextUpstreamValues[key] {
                alreadySet = conditions.contains(value)
                conditions.insert(value)
            } else {
                throw ConfigError("invalid value \"\(word)\"", at: directive.location)
            }
            if alreadySet { warn("duplicate value \"\(word)\"", at: directive.location) }
        }
        layer.proxyNextUpstream = conditions
    }
}
