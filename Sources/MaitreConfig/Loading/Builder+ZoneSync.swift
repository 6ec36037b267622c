extension ConfigBuilder {
    /// `zone_sync_redis ADDRESS [db=N] [password=TEXT] [prefix=TEXT] [connect_timeout=TIME] [timeout=TIME]`: ADDRESS is
    /// `HOST[:PORT]` (port 6379 unless written; a name is resolved now, its first address used) or `unix:PATH`.
    func parseZoneSyncRedis(_ directive: Directive) throws(ConfigError) -> ZoneSyncRedis {
        let written = directive.arguments[0]
        var setting: ZoneSyncRedis
        if written.lowercased().hasPrefix("unix:") {
            let path = String(written.dropFirst(5))
            guard !path.isEmpty else {
                throw ConfigError("no path in \"\(written)\" of the \"zone_sync_redis\" directive", at: directive.location)
            }
            setting = ZoneSyncRedis(address: .unix(FileSystem.absolute(path, against: prefix)), source: directive.location)
        } else {
            let address: ParsedAddress
            switch AddressSyntax.parse(written, mode: .upstreamServer) {
            case .success(let parsed): address = parsed
            case .failure(let error):
                throw ConfigError("\(error.text) in \"\(written)\" of the \"zone_sync_redis\" directive", at: directive.location)
            }
            guard let first = resolve(address.bareHost, port: address.ports?.lowerBound ?? 6379).first else {
                throw ConfigError("host not found in \"\(written)\" of the \"zone_sync_redis\" directive", at: directive.location)
            }
            setting = ZoneSyncRedis(address: .tcp(first), source: directive.location)
        }
        for parameter in directive.arguments.dropFirst() {
            let invalid = ConfigError("invalid parameter \"\(parameter)\"", at: directive.location)
            if parameter.hasPrefix("db=") {
                guard let database = Units.integer(String(parameter.dropFirst(3))), database >= 0 else { throw invalid }
                setting.database = database
            } else if parameter.hasPrefix("password=") {
                let password = String(parameter.dropFirst(9))
                guard !password.isEmpty else { throw invalid }
                setting.password = password
            } else if parameter.hasPrefix("prefix=") {
                setting.prefix = String(parameter.dropFirst(7))
            } else if parameter.hasPrefix("connect_timeout=") {
                guard let timeout = Units.milliseconds(String(parameter.dropFirst(16))), timeout.milliseconds > 0 else {
                    throw invalid
                }
                setting.connectTimeout = timeout
            } else if parameter.hasPrefix("timeout=") {
                guard let timeout = Units.milliseconds(String(parameter.dropFirst(8))), timeout.milliseconds > 0 else {
                    throw invalid
                }
                setting.timeout = timeout
            } else {
                throw invalid
            }
        }
        return setting
    }
}
