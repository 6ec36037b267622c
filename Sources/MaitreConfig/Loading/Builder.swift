/// Turns the directive tree into the typed `Configuration`, applying directives in file order so that the first
/// error reported is the one nginx would report.
final class ConfigBuilder {
    let resolver: any HostResolver
    /// Absolute, ending with `/`: relative `pid` and `error_log` paths are resolved against it.
    let prefix: String
    var warnings: [ConfigError] = []

    // main context
    var workerProcesses: WorkerProcesses?
    var pidFile: String?
    var errorLog: ErrorLogSetting?
    var workerConnections: Int?
    var daemon: Bool?
    var masterProcess: Bool?
    var eventsSeen = false
    var httpSeen = false
    var http: HTTPConfiguration?

    // http context, filled while the http block is read
    var httpLayer = SettingsLayer()
    var upstreamEntries: [UpstreamEntry] = []
    /// The stream context's upstream list (its own namespace).
    var streamUpstreamEntries: [UpstreamEntry] = []
    /// The stream context's `log_format`s (it has no predefined one).
    var streamLogFormats: [String: LogFormat] = [:]
    var streamSeen = false
    /// `sticky learn` zones by name, with the upstream that uses each.
    var stickyZones: [String: String] = [:]
    /// Where the first `sticky learn … sync` was written (it needs `zone_sync_redis`).
    var stickySyncUse: SourceLocation?
    /// `zone_sync_redis` (http).
    var zoneSync: ZoneSyncRedis?
    var stream: StreamConfiguration?
    /// `log_format`s defined so far (an `access_log` may only name one defined before it, as in nginx).
    var logFormats: [String: LogFormat] = ["combined": .combined]
    /// `resolver_timeout` written inside an upstream block, by upstream name (merged with http's at the end).
    var upstreamResolverTimeouts: [String: TimeSpan] = [:]
    var servers: [ServerDraft] = []
    var endpoints: [ListenEndpoint: EndpointState] = [:]
    var endpointOrder: [ListenEndpoint] = []

    init(resolver: any HostResolver, prefix: String) {
        self.resolver = resolver
        self.prefix = prefix
    }

    /// Walks one block: each directive is checked against the directive table, then handed to `handle`.
    func walk(
        _ block: Block, in context: ConfigContext, _ handle: (Directive) throws(ConfigError) -> Void
    ) throws(ConfigError) {
        for item in block.items {
            switch item {
            case .failure(let error):
                throw error
            case .directive(let directive):
                try DirectiveTable.check(directive, in: context)
                try handle(directive)
            }
        }
    }

    func warn(_ message: String, at location: SourceLocation?) {
        warnings.append(ConfigError(message, at: location))
    }

    // MARK: nginx's generic slot messages

    static func duplicate(_ directive: Directive) -> ConfigError {
        ConfigError("\"\(directive.name)\" directive is duplicate", at: directive.location)
    }

    static func invalidValue(_ directive: Directive) -> ConfigError {
        ConfigError("\"\(directive.name)\" directive invalid value", at: directive.location)
    }

    static func invalidNumber(_ directive: Directive) -> ConfigError {
        ConfigError("\"\(directive.name)\" directive invalid number", at: directive.location)
    }

    /// ngx_conf_set_msec_slot.
    static func milliseconds(_ directive: Directive, current: TimeSpan?) throws(ConfigError) -> TimeSpan {
        if current != nil { throw duplicate(directive) }
        guard let value = Units.milliseconds(directive.arguments[0]) else { throw invalidValue(directive) }
        return value
    }

    /// ngx_conf_set_size_slot.
    static func size(_ directive: Directive, current: Int?) throws(ConfigError) -> Int {
        if current != nil { throw duplicate(directive) }
        guard let value = Units.size(directive.arguments[0]) else { throw invalidValue(directive) }
        return value
    }

    /// ngx_conf_set_num_slot.
    static func number(_ directive: Directive, current: Int?) throws(ConfigError) -> Int {
        if current != nil { throw duplicate(directive) }
        guard let value = Units.integer(directive.arguments[0]) else { throw invalidNumber(directive) }
        return value
    }

    // MARK: main context

    func applyMain(_ block: Block) throws(ConfigError) {
        try walk(block, in: .main) { (directive) throws(ConfigError) in
            switch directive.name {
            case "worker_processes":
                if workerProcesses != nil { throw Self.duplicate(directive) }
                let value = directive.arguments[0]
                if value == "auto" {
                    workerProcesses = .auto
                } else if let count = Units.integer(value) {
                    workerProcesses = .count(count)
                } else {
                    throw Self.invalidValue(directive)
                }
            case "daemon":
                daemon = try Self.flag(directive, current: daemon)
            case "master_process":
                masterProcess = try Self.flag(directive, current: masterProcess)
            case "pid":
                if pidFile != nil { throw Self.duplicate(directive) }
                pidFile = FileSystem.absolute(directive.arguments[0], against: prefix)
            case "error_log":
                try applyErrorLog(directive)
            case "events":
                if eventsSeen { throw Self.duplicate(directive) }
                eventsSeen = true
                try applyEvents(directive.block!)
            case "http":
                if httpSeen { throw Self.duplicate(directive) }
                httpSeen = true
                try applyHTTP(directive)
            case "stream":
                if streamSeen { throw Self.duplicate(directive) }
                streamSeen = true
                try applyStream(directive)
            default:
                // The directive table admits nothing else in main.
                throw ConfigError("unknown directive \"\(directive.name)\"", at: directive.location)
            }
        }
    }

    /// nginx logs to every `error_log` given; maitred keeps one log, the first written.
    private func applyErrorLog(_ directive: Directive) throws(ConfigError) {
        let target = directive.arguments[0]
        var level: LogLevel?
        for word in directive.arguments.dropFirst() {
            guard let parsed = LogLevel(name: word) else {
                throw ConfigError("invalid log level \"\(word)\"", at: directive.location)
            }
            if level != nil { throw ConfigError("duplicate log level \"\(word)\"", at: directive.location) }
            level = parsed
        }
        guard errorLog == nil else { return }
        let path = target == "stderr" ? "stderr" : FileSystem.absolute(target, against: prefix)
        errorLog = ErrorLogSetting(path: path, level: level ?? .error)
    }

    private func applyEvents(_ block: Block) throws(ConfigError) {
        try walk(block, in: .events) { (directive) throws(ConfigError) in
            // worker_connections is the only events directive maitred knows.
            if workerConnections != nil { throw Self.duplicate(directive) }
            guard let count = Units.integer(directive.arguments[0]) else {
                throw ConfigError("invalid number \"\(directive.arguments[0])\"", at: directive.location)
            }
            workerConnections = count
        }
    }

    func configuration(mainFile: String, files: [LoadedFile]) -> Configuration {
        var configuration = Configuration(
            mainFile: mainFile, files: files, workerProcesses: workerProcesses ?? .count(1),
            pidFile: pidFile ?? prefix + "logs/maitred.pid",
            errorLog: errorLog ?? ErrorLogSetting(path: prefix + "logs/error.log", level: .error),
            workerConnections: workerConnections ?? 512, http: http)
        configuration.daemon = daemon ?? false
        configuration.masterProcess = masterProcess ?? true
        configuration.stream = stream
        configuration.warnings = warnings
        return configuration
    }
}
