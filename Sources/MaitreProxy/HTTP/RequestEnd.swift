import MaitreBalancing
import MaitreConfig
import NIOCore

/// Everything known about a request once it is over, handed to the loop's observer from the one place where
/// every request ends (`HTTPProxyHandler.requestEnded`): answered by the upstream, answered by maitred, cut off,
/// or abandoned by the client. The access log, metrics and the status page read requests here. Only valid during
/// the observer's call: the head's bytes go back to the loop's pool right after.
struct RequestEnd {
    /// `$server_name` of the server block that took the request (the default server's when none did).
    let serverName: String
    /// The `access_log` lines in force where the request was routed (empty: `off`).
    let accessLogs: [AccessLog]
    /// `*N` in the error log, nginx's `$connection`.
    let connectionNumber: UInt64
    /// This request's number on its connection, nginx's `$connection_requests`.
    let requestNumber: Int
    /// The request head, nil when it could not be parsed.
    let request: RequestRecord?
    /// The status sent to the client (499 when the client closed before a response started, as nginx logs it).
    let status: Int
    /// False when the response was cut off or the client went away.
    let completed: Bool
    /// The loop's clock (nanoseconds) when the head was complete and when the request ended.
    let startedAt: Int64
    let endedAt: Int64
    /// Response body bytes handed to the client connection (nginx's `$body_bytes_sent`).
    let bodyBytesSent: Int
    /// The request's `$request_id` slot (the log line shows the id the request was proxied with, or makes one).
    let requestID: RequestIDSlot?
    /// Bytes of the request head and of the request body received (`$request_length`).
    let requestHeadBytes: Int
    let requestBodyBytes: Int
    /// The upstream and every attempt, for a proxied request.
    let upstream: Upstream?
    let addresses: ConnectionAddresses
    /// The configuration the request ran on (to name peers), and its runtime (the peers' counter cells).
    let snapshot: ProxySnapshot
    let runtime: LoopRuntime
    /// Every byte written to the client for this response (`$bytes_sent`).
    let bytesSent: Int
    /// The response head as written, when some format reads `$sent_http_*`.
    let sentHead: ByteBuffer?

    struct Upstream {
        let index: Int
        let attempts: AttemptLog
    }

    /// `address(of:)` as bytes, without making a string.
    func addressBytes(of attempt: AttemptRecord) -> [UInt8]? {
        guard let upstream, upstream.index < snapshot.upstreams.count else { return nil }
        let peers = snapshot.upstreams[upstream.index].peers
        return attempt.peer.index < peers.count ? peers[attempt.peer.index].addressBytes : nil
    }

    /// `host:port` of an attempt's peer, as nginx's `$upstream_addr` prints it.
    func address(of attempt: AttemptRecord) -> String {
        guard let upstream, upstream.index < snapshot.upstreams.count else { return "-" }
        let peers = snapshot.upstreams[upstream.index].peers
        return attempt.peer.index < peers.count ? peers[attempt.peer.index].address : "-"
    }
}

/// Receives every finished request of one event loop, on that loop.
protocol RequestEndObserver: AnyObject {
    func requestEnded(_ end: RequestEnd)
}
