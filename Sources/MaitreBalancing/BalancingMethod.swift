/// The `upstream{}` balancing method, as selected by nginx's `least_conn` / `ip_hash` directives (round robin when neither is given).
public enum BalancingMethod: Sendable, Equatable {
    case roundRobin
    case leastConn
    case ipHash
}
