#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one health probe ended. A failure carries what the check module logs for it (at `error`, one line per
/// failed probe, with the peer's address), so an operator sees why a server is going down before it does.
enum ProbeResult: Equatable, Sendable {
    case alive
    /// No verdict within `timeout` (connect or answer): "check time out with peer".
    case timedOut
    /// The connection could not be made (refused, unreachable); `reason` is the system's words.
    case connectFailed(reason: String)
    /// The server answered, but not as the check type expects (status outside `check_http_expect_alive`, a
    /// malformed status line, a close before the status line): "check protocol http error with peer".
    case protocolError

    var isAlive: Bool { self == .alive }

    /// A failed connect in nginx's words: `111: Connection refused`.
    static func connectFailed(errno: Int32) -> ProbeResult {
        .connectFailed(reason: "\(errno): \(String(cString: strerror(errno)))")
    }

    /// Why a probe failed, short, for the status page ("5 checks failed: connection refused"); nil when it passed.
    var shortReason: String? {
        switch self {
        case .alive: return nil
        case .timedOut: return "timed out"
        case .protocolError: return "unexpected answer"
        case .connectFailed(let reason):
            // "111: Connection refused" -> "connection refused"
            let words = reason.split(separator: ":", maxSplits: 1).last.map { $0.drop(while: { $0 == " " }) } ?? ""
            return words.isEmpty ? reason : words.prefix(1).lowercased() + words.dropFirst()
        }
    }

    /// The error-log line for a failed probe of `address`, nil for a passing one.
    func logLine(address: String, kind: String) -> String? {
        switch self {
        case .alive: return nil
        case .timedOut: return "check time out with peer: \(address) "
        case .connectFailed(let reason): return "connect() failed (\(reason)) with peer: \(address) "
        case .protocolError: return "check protocol \(kind) error with peer: \(address) "
        }
    }
}
