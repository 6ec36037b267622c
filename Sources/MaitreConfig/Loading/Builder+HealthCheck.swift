/// The upstream check module's directives (`check`, `check_http_send`, `check_http_expect_alive`,
/// `check_keepalive_requests`), with its syntax, defaults and error messages (ngx_http_upstream_check,
/// ngx_http_upstream_check_http_send, ngx_http_upstream_check_http_expect_alive in yaoweibin's and Tengine's
/// module). Where the two differ, Tengine's stricter checks are taken.
struct HealthCheckDraft {
    var check: HealthCheck?
    var httpSend: (bytes: [UInt8], location: SourceLocation)?
    var expectAlive: Set<HealthCheck.StatusClass>?

    /// `check interval=N rise=N fall=N timeout=N default_down=true|false type=tcp|http port=N`. A second `check`
    /// in the same upstream starts again from the defaults, except that an earlier `type=` stays when it names
    /// none (the module parses each `check` from its defaults and keeps the type unless given).
    mutating func applyCheck(_ directive: Directive) throws(ConfigError) {
        var check = HealthCheck()
        if let earlier = self.check { check.kind = earlier.kind }
        for argument in directive.arguments {
            let invalid = ConfigError("invalid parameter \"\(argument)\"", at: directive.location)
            guard let equals = argument.firstIndex(of: "=") else { throw invalid }
            let key = argument[..<equals]
            let value = String(argument[argument.index(after: equals)...])
            switch key {
            case "interval":
                check.intervalMilliseconds = Int64(try Self.positive(value, or: invalid))
            case "timeout":
                check.timeoutMilliseconds = Int64(try Self.positive(value, or: invalid))
            case "rise":
                check.rise = try Self.positive(value, or: invalid)
            case "fall":
                check.fall = try Self.positive(value, or: invalid)
            case "port":
                let port = try Self.positive(value, or: invalid)
                guard port <= 65535 else { throw invalid }  // the module truncates silently; maitred refuses
                check.port = port
            case "default_down":
                switch value.lowercased() {
                case "true": check.defaultDown = true
                case "false": check.defaultDown = false
                default:
                    throw ConfigError(
                        "invalid value \"\(argument)\", it must be \"true\" or \"false\"", at: directive.location)
                }
            case "type":
                switch value {
                case "tcp": check.kind = .tcp
                case "http": check.kind = .http
                case "ssl_hello", "mysql", "ajp", "fastcgi":
                    throw ConfigError("check type \"\(value)\" is not supported", at: directive.location)
                default:
                    throw invalid
                }
            default:
                throw invalid
            }
        }
        self.check = check
    }

    /// `check_http_send "…"`: sent as written (the configuration's `\r\n` escapes are the line ends).
    mutating func applyHTTPSend(_ directive: Directive) throws(ConfigError) {
        httpSend = (Array(directive.arguments[0].utf8), directive.location)
    }

    /// `check_http_expect_alive http_2xx …`: replaces the default classes (Tengine resets on every directive).
    mutating func applyExpectAlive(_ directive: Directive) throws(ConfigError) {
        var classes: Set<HealthCheck.StatusClass> = []
        for argument in directive.arguments {
            let lowered = argument.lowercased()
            guard lowered.count == 8, lowered.hasPrefix("http_"), lowered.hasSuffix("xx"),
                let digit = lowered.dropFirst(5).first?.wholeNumberValue, (1...5).contains(digit)
            else {
                throw ConfigError("invalid value \"\(argument)\"", at: directive.location)
            }
            classes.insert(digit)
        }
        expectAlive = classes
    }

    /// `check_keepalive_requests N`: probes on one connection. maitred opens a connection per probe, which is
    /// the module's default of 1; larger values are refused rather than ignored.
    static func checkKeepaliveRequests(_ directive: Directive) throws(ConfigError) {
        guard let count = Units.integer(directive.arguments[0]), count > 0 else {
            throw ConfigError("\"check_keepalive_requests\" directive invalid value", at: directive.location)
        }
        if count > 1 {
            throw ConfigError(
                "\"check_keepalive_requests\" above 1 is not supported: maitred opens a connection per check",
                at: directive.location)
        }
    }

    /// The upstream's check once its block is read, or nil when it has no `check`.
    func finish(at location: SourceLocation) throws(ConfigError) -> HealthCheck? {
        guard var check else {
            if let httpSend {
                throw ConfigError("invalid check_http_send should set [check] first", at: httpSend.location)
            }
            return nil
        }
        if let httpSend {
            guard check.kind == .http else {
                throw ConfigError(
                    "invalid check_http_send for type \"\(check.kind.rawValue)\"", at: httpSend.location)
            }
            check.httpSend = httpSend.bytes
        }
        if let expectAlive { check.expectAlive = expectAlive }
        return check
    }

    /// Digits only, above 0 (the module's ngx_atoi and `<= 0` checks).
    private static func positive(_ value: String, or error: ConfigError) throws(ConfigError) -> Int {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int(value), number > 0
        else { throw error }
        return number
    }
}
