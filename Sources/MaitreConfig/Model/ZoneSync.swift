/// `zone_sync_redis ADDRESS [db=N] [password=TEXT] [prefix=TEXT] [connect_timeout=TIME] [timeout=TIME];` (http, ours): the Redis
/// server through which several maitred instances share `sticky learn … sync` sessions. nginx Plus shares zones
/// between instances with `zone_sync` over a protocol of its own; maitred keeps shared state in Redis.
public struct ZoneSyncRedis: Sendable, Equatable {
    public enum Address: Sendable, Equatable, CustomStringConvertible {
        case tcp(ResolvedAddress)
        case unix(String)

        public var description: String {
            switch self {
            case .tcp(let address): return address.description
            case .unix(let path): return "unix:\(path)"
            }
        }
    }

    public var address: Address
    /// `db=`: the database SELECTed for the session keys (default 0). Published messages are not per database.
    public var database = 0
    /// `password=`: sent with AUTH before anything else.
    public var password: String?
    /// `prefix=`: the start of every key and channel name (default `maitred:`), so deployments can share a server.
    public var prefix = "maitred:"
    /// `connect_timeout=` (default 1s).
    public var connectTimeout = TimeSpan.seconds(1)
    /// `timeout=` (default 5s): a command (or the handshake) unanswered this long closes the connection, and an
    /// idle connection is PINGed every half of it.
    public var timeout = TimeSpan.seconds(5)
    public var source: SourceLocation

    public init(address: Address, source: SourceLocation) {
        self.address = address
        self.source = source
    }
}
