/// The `upstream{}` balancing method, as selected by nginx's `least_conn` / `ip_hash` directives (round robin when neither is given).
public enum BalancingMethod: Sendable, Equatable {
    case roundRobin
    case leastConn
    case ipHash
    /// `hash KEY`: nginx's CRC32-based hash with rehashing.
    case hash
    /// `hash KEY consistent`: nginx's ketama ring.
    case consistentHash
    /// `hash KEY maglev` (ours): a Maglev lookup table.
    case maglev
    /// `random` and `random two [least_conn]`.
    case random
    case randomTwo
    /// `random two least_time=header|last_byte` (nginx Plus's form): two choices compared by a peak EWMA of the
    /// response time (to the header, or to the last byte) times the requests in flight, per weight.
    case randomTwoLeastTime(lastByte: Bool)
    /// `least_time header|last_byte [inflight]` (http) and `least_time connect|first_byte|last_byte [inflight]`
    /// (stream), nginx 1.31: the least estimated time to finish, per weight.
    case leastTime(LeastTimeMeasure, inflight: Bool)

    /// The method hashes a per-request key (`hash`), so the request must bring one.
    public var usesHashKey: Bool { self == .hash || self == .consistentHash || self == .maglev }

    /// nginx's hash and random modules drop NGX_HTTP_UPSTREAM_BACKUP, as ip_hash does.
    var acceptsBackups: Bool {
        switch self {
        case .roundRobin, .leastConn, .leastTime: true
        case .ipHash, .hash, .consistentHash, .maglev, .random, .randomTwo, .randomTwoLeastTime: false
        }
    }
}

/// What `least_time` averages: the time to connect (stream), to the response header or the first byte (http's
/// `header`, stream's `first_byte`), or to the last byte.
public enum LeastTimeMeasure: Sendable, Equatable {
    case connect
    case header
    case lastByte
}
