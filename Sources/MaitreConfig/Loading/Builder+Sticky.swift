extension ConfigBuilder {
    /// ngx_http_upstream_sticky: `cookie NAME [params]`, `route $var …`; `learn` is refused (not built yet).
    static func parseSticky(_ directive: Directive) throws(ConfigError) -> StickySetting {
        let arguments = directive.arguments
        func directiveError(_ text: String) -> ConfigError {
            ConfigError("\"sticky\" directive \(text)", at: directive.location)
        }
        switch arguments[0] {
        case "cookie":
            guard arguments.count >= 2 else {
                throw ConfigError("invalid number of arguments in \"sticky\" directive", at: directive.location)
            }
            guard !arguments[1].isEmpty else { throw directiveError("empty cookie name") }
            var cookie = StickyCookie(name: arguments[1])
            for parameter in arguments.dropFirst(2) {
                if parameter.hasPrefix("domain=") {
                    if cookie.domain != nil { throw directiveError("parameter \"domain\" is duplicate") }
                    let value = String(parameter.dropFirst(7))
                    if value.isEmpty { throw directiveError("no value for \"domain\"") }
                    if value.contains("$") {
                        throw ConfigError("variables in \"domain=\" are not supported", at: directive.location)
                    }
                    cookie.domain = value
                } else if parameter.hasPrefix("path=") {
                    if cookie.path != nil { throw directiveError("parameter \"path\" is duplicate") }
                    let value = String(parameter.dropFirst(5))
                    if value.isEmpty { throw directiveError("no value for \"path\"") }
                    cookie.path = value
                } else if parameter.hasPrefix("expires=") {
                    if cookie.expires != nil { throw directiveError("parameter \"expires\" is duplicate") }
                    let value = String(parameter.dropFirst(8))
                    if value == "max" {
                        cookie.expires = .max
                    } else {
                        guard let seconds = Units.seconds(value) else {
                            throw directiveError("invalid \"expires\" parameter value")
                        }
                        cookie.expires = .seconds(seconds.wholeSeconds)
                    }
                } else if parameter == "httponly" {
                    if cookie.httpOnly { throw directiveError("parameter \"httponly\" is duplicate") }
                    cookie.httpOnly = true
                } else if parameter == "secure" {
                    if cookie.secure { throw directiveError("parameter \"secure\" is duplicate") }
                    cookie.secure = true
                } else if parameter.hasPrefix("samesite=") {
                    if cookie.sameSite != nil { throw directiveError("parameter \"samesite\" is duplicate") }
                    let value = String(parameter.dropFirst(9))
                    if value.contains("$") {
                        throw ConfigError("variables in \"samesite=\" are not supported", at: directive.location)
                    }
                    guard ["strict", "lax", "none"].contains(value.lowercased()) else {
                        throw directiveError("invalid \"samesite\" parameter value")
                    }
                    cookie.sameSite = value
                } else {
                    throw ConfigError("unknown parameter \"\(parameter)\"", at: directive.location)
                }
            }
            return .cookie(cookie)
        case "route":
            var variables: [Variable] = []
            for written in arguments.dropFirst() {
                guard written.hasPrefix("$") else {
                    throw ConfigError("invalid variable name \"\(written)\"", at: directive.location)
                }
                guard let variable = Variable(name: String(written.dropFirst()).lowercased()),
                    variable.exists(in: .http), !variable.isLogPhase
                else {
                    throw ConfigError("unknown \"\(written.dropFirst())\" variable", at: directive.location)
                }
                variables.append(variable)
            }
            return .route(variables)
        case "learn":
            return .learn(try parseLearn(directive))
        default:
            throw ConfigError("unknown parameter \"\(arguments[0])\"", at: directive.location)
        }
    }

    /// ngx_http_upstream_sticky_learn, with its messages.
    private static func parseLearn(_ directive: Directive) throws(ConfigError) -> StickyLearn {
        func directiveError(_ text: String) -> ConfigError {
            ConfigError("\"sticky\" directive \(text)", at: directive.location)
        }
        var create: [StickyCreateSource] = []
        var lookup: [Variable] = []
        var zone: (name: String, size: Int)?
        var timeout: TimeSpan?
        var afterHeaders = false
        var sync = false
        for parameter in directive.arguments.dropFirst() {
            if parameter.hasPrefix("zone=") {
                if zone != nil { throw directiveError("duplicate zone") }
                let value = parameter.dropFirst(5)
                guard let colon = value.firstIndex(of: ":") else { throw directiveError("zone size is not specified") }
                let name = String(value[..<colon])
                if name.isEmpty { throw directiveError("zone name is not specified") }
                guard let size = Units.size(String(value[value.index(after: colon)...])) else {
                    throw directiveError("invalid zone size")
                }
                if size < 8 * 4096 { throw directiveError("zone is too small") }
                zone = (name, size)
            } else if parameter.hasPrefix("timeout=") {
                if timeout != nil { throw directiveError("duplicate timeout") }
                guard let value = Units.milliseconds(String(parameter.dropFirst(8))), value.milliseconds > 0 else {
                    throw directiveError("invalid timeout")
                }
                timeout = value
            } else if parameter.hasPrefix("create=") {
                let written = parameter.dropFirst(7)
                guard written.hasPrefix("$") else { throw directiveError("missing variable in the \"create\" parameter") }
                let name = written.dropFirst().lowercased()
                if name.hasPrefix("upstream_cookie_"), name.count > 16 {
                    create.append(.upstreamCookie(String(name.dropFirst(16))))
                } else if name.hasPrefix("upstream_http_"), name.count > 14 {
                    create.append(.upstreamHeader(String(name.dropFirst(14))))
                } else if let variable = Variable(name: name), variable.exists(in: .http), !variable.isLogPhase {
                    create.append(.variable(variable))
                } else {
                    throw ConfigError("unknown \"\(written.dropFirst())\" variable", at: directive.location)
                }
            } else if parameter.hasPrefix("lookup=") {
                let written = parameter.dropFirst(7)
                guard written.hasPrefix("$") else { throw directiveError("missing variable in the \"lookup\" parameter") }
                guard let variable = Variable(name: written.dropFirst().lowercased()), variable.exists(in: .http),
                    !variable.isLogPhase
                else {
                    throw ConfigError("unknown \"\(written.dropFirst())\" variable", at: directive.location)
                }
                lookup.append(variable)
            } else if parameter == "header" {
                afterHeaders = true
            } else if parameter == "sync" {
                sync = true
            } else {
                throw ConfigError("unknown parameter \"\(parameter)\"", at: directive.location)
            }
        }
        if lookup.isEmpty { throw directiveError("\"lookup\" parameter is not specified") }
        if create.isEmpty { throw directiveError("\"create\" parameter is not specified") }
        guard let zone else { throw directiveError("\"zone\" parameter is not specified") }
        var learn = StickyLearn(
            create: create, lookup: lookup, zone: zone.name, capacity: max(1, zone.size / 128),
            timeout: timeout ?? .seconds(600), afterHeaders: afterHeaders)
        learn.sync = sync
        return learn
    }
}
