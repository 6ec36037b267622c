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
            throw ConfigError("\"sticky learn\" is not supported yet", at: directive.location)
        default:
            throw ConfigError("unknown parameter \"\(arguments[0])\"", at: directive.location)
        }
    }
}
