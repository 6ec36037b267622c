import MaitreConfig
import MaitreWire

/// What one run-time lookup of a `resolve` server came to, and what nginx's zone module does with it
/// (ngx_http_upstream_zone_resolve_handler). Pure: the watcher feeds it and runs the decision.
enum LookupOutcome: Equatable {
    /// An answer (possibly empty: the name exists but has no address of the families asked for), with the
    /// smallest TTL of the records used.
    case answered([ResolvedPeer], ttlSeconds: UInt32)
    /// NXDOMAIN: the name does not exist. nginx removes the server's peers, as for an empty answer.
    case notFound
    /// No usable answer (timeout, SERVFAIL, REFUSED, an answer that does not parse): the peers stay as they were.
    case failed(code: Int, reason: String)

    struct Decision: Equatable {
        /// The server's new peers; nil keeps the current ones.
        var peers: [ResolvedPeer]?
        /// When to look the name up again, in milliseconds from now.
        var nextLookupMilliseconds: Int64
        /// nginx's error-log line, when there is one.
        var logged: String?
    }

    /// `valid` is the resolver's `valid=` (it overrides the TTL), `timeout` its `resolver_timeout`; `name` is
    /// what the log calls the lookup ("app.example.com", or "service http of app.example.com").
    func decide(name: String, valid: TimeSpan?, timeout: TimeSpan) -> Decision {
        // After a failure nginx looks again after resolver_timeout, at least a second later.
        let retry = max(timeout.milliseconds, 1_000)
        switch self {
        case .answered(let peers, let ttl):
            // nginx's timer: `valid - now + 1` seconds, `valid` being now + (valid= or the TTL).
            let seconds = valid.map { $0.milliseconds / 1_000 } ?? Int64(ttl)
            return Decision(peers: peers, nextLookupMilliseconds: (seconds + 1) * 1_000, logged: nil)
        case .notFound:
            return Decision(
                peers: [], nextLookupMilliseconds: retry, logged: "\(name) could not be resolved (3: Host not found)")
        case .failed(let code, let reason):
            return Decision(
                peers: nil, nextLookupMilliseconds: retry, logged: "\(name) could not be resolved (\(code): \(reason))")
        }
    }

    /// What a response's code means for the lookup: nil for NOERROR (read the records), `.notFound` for NXDOMAIN,
    /// a failure in nginx's words (ngx_resolver_strerror, `DNSResponse.errorText`) for the rest.
    static func unlessAnswered(rcode: UInt8) -> LookupOutcome? {
        switch rcode {
        case DNSResponse.ResponseCode.noError: return nil
        case DNSResponse.ResponseCode.nameError: return .notFound
        default: return .failed(code: Int(rcode), reason: DNSResponse.errorText(rcode: rcode))
        }
    }

    /// A lookup that got no answer in time: nginx's NGX_RESOLVE_TIMEDOUT.
    static let timedOut = LookupOutcome.failed(code: 110, reason: "Operation timed out")
}
