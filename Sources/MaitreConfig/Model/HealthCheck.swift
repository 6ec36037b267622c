/// An upstream's active health check, as the `check` directive family of the upstream check module
/// (yaoweibin's nginx_upstream_check_module, Tengine's ngx_http_upstream_check_module) writes it.
public struct HealthCheck: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable {
        /// Connect, then make sure the server neither reset nor closed the connection.
        case tcp
        /// Send `check_http_send`, read the status line, match it with `check_http_expect_alive`.
        case http
    }

    /// A status class `check_http_expect_alive` accepts (`http_2xx` is 2).
    public typealias StatusClass = Int

    /// Milliseconds between the end of one probe and the start of the next (`interval=`, default 30000).
    public var intervalMilliseconds: Int64 = 30_000
    /// Consecutive successes that bring a down server up (`rise=`, default 2).
    public var rise = 2
    /// Consecutive failures that take an up server down (`fall=`, default 5).
    public var fall = 5
    /// Milliseconds one probe may take, connect, send and read together (`timeout=`, default 1000).
    public var timeoutMilliseconds: Int64 = 1_000
    /// Servers start down and get no traffic until `rise` successes (`default_down=`, default true).
    public var defaultDown = true
    public var kind = Kind.tcp
    /// Probe this port instead of the server's (`port=`, 0: the server's own).
    public var port = 0
    /// `check_http_send`: the bytes sent as they are.
    public var httpSend: [UInt8] = Array("GET / HTTP/1.0\r\n\r\n".utf8)
    /// `check_http_expect_alive` (default `http_2xx http_3xx`).
    public var expectAlive: Set<StatusClass> = [2, 3]

    public init() {}

    /// Whether an HTTP probe's status counts as alive.
    public func isAlive(status: Int) -> Bool {
        guard (100...599).contains(status) else { return false }
        return expectAlive.contains(status / 100)
    }
}
