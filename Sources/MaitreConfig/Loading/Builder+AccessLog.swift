extension ConfigBuilder {
    /// ngx_http_log_set_format: a name, an optional `escape=`, then strings joined into one template.
    func applyLogFormat(_ directive: Directive, context: ProxyContext = .http) throws(ConfigError) {
        var arguments = directive.arguments
        let name = arguments.removeFirst()
        // `combined` is predefined, so redefining it is a duplicate too, as in nginx.
        if (context == .http ? logFormats[name] : streamLogFormats[name]) != nil {
            throw ConfigError("duplicate \"log_format\" name \"\(name)\"", at: directive.location)
        }
        var escape = LogFormat.Escape.default
        if let first = arguments.first, first.hasPrefix("escape=") {
            switch first.dropFirst(7) {
            case "default": escape = .default
            case "json": escape = .json
            case "none": escape = .none
            default:
                throw ConfigError("unknown log format escaping \"\(first.dropFirst(7))\"", at: directive.location)
            }
            arguments.removeFirst()
        }
        guard !arguments.isEmpty else {
            throw ConfigError("invalid number of arguments in \"log_format\" directive", at: directive.location)
        }
        let template = try VariableTemplate.parse(arguments.joined(), at: directive.location, context: context)
        let format = LogFormat(name: name, escape: escape, template: template)
        switch context {
        case .http: logFormats[name] = format
        case .stream: streamLogFormats[name] = format
        }
    }

    /// ngx_http_log_set_log: `off`, or a path (no variables), a format defined before, and the parameters
    /// nginx knows. `gzip` is refused by name (maitred does not compress logs).
    func applyAccessLog(
        _ directive: Directive, to layer: inout SettingsLayer, context: ProxyContext = .http
    ) throws(ConfigError) {
        let arguments = directive.arguments
        if arguments[0] == "off" {
            guard arguments.count == 1 else {
                throw ConfigError("invalid parameter \"\(arguments[1])\"", at: directive.location)
            }
            layer.accessLogs = []
            return
        }
        guard !arguments[0].contains("$") else {
            throw ConfigError("variables in the \"access_log\" path are not supported", at: directive.location)
        }
        var log = AccessLog(path: FileSystem.absolute(arguments[0], against: prefix), format: .combined)
        if context == .stream && arguments.count < 2 {
            // The stream module has no predefined format.
            throw ConfigError("log format is not specified", at: directive.location)
        }
        if arguments.count > 1 {
            guard let format = (context == .http ? logFormats : streamLogFormats)[arguments[1]] else {
                throw ConfigError("unknown log format \"\(arguments[1])\"", at: directive.location)
            }
            log.format = format
        }
        for parameter in arguments.dropFirst(2) {
            if parameter.hasPrefix("buffer=") {
                guard let size = Units.size(String(parameter.dropFirst(7))), size > 0 else {
                    throw ConfigError("invalid buffer size \"\(parameter.dropFirst(7))\"", at: directive.location)
                }
                log.bufferSize = size
            } else if parameter.hasPrefix("flush=") {
                guard let flush = Units.milliseconds(String(parameter.dropFirst(6))), flush.milliseconds > 0 else {
                    throw ConfigError("invalid flush time \"\(parameter.dropFirst(6))\"", at: directive.location)
                }
                log.flush = flush
            } else if parameter.hasPrefix("if=") {
                log.condition = try VariableTemplate.parse(
                    String(parameter.dropFirst(3)), at: directive.location, context: context)
            } else if parameter == "gzip" || parameter.hasPrefix("gzip=") {
                throw ConfigError("parameter \"\(parameter)\" is not supported", at: directive.location)
            } else {
                throw ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            }
        }
        if log.flush != nil && log.bufferSize == nil {
            throw ConfigError("no buffer is defined for access_log \"\(arguments[0])\"", at: directive.location)
        }
        layer.accessLogs = (layer.accessLogs ?? []) + [log]
    }
}
