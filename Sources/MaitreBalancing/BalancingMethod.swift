/// The `upstream{}` balancing method, as selected by nginx's `least_conn` / `ip_hash` directives (round robin when neither is given).
public enum BalancingMethod: Sendable, Equatable {
    case roundRobin
    case leastConn
    case ipHash
    /// `hash KEY`: nginx's CRC32-based hash with rehashing.
    case hash
    /// `hash KEY consistent`: nginx's ketama ring.
    case consistentHash

    /// The method hashes a per-request key (`hash`), so the request must bring one.
    public var usesHashKey: Bool { self == .hash || self == .consistentHash }
}
