import MaitreConfig

/// nginx's decision after an attempt failed or answered with a status `proxy_next_upstream` lists
/// (ngx_http_upstream_next, ngx_http_upstream_test_next): pure, so every branch is tested without sockets.
enum RetryPolicy {
    /// Why the attempt ended.
    enum Failure: Equatable {
        /// Connection refused, reset or closed (`error`).
        case error
        /// connect/send/read timeout (`timeout`).
        case timeout
        /// Not a valid response head (`invalid_header`).
        case invalidHeader
    }

    /// What the exchange knows about itself when it decides.
    struct Attempt: Equatable {
        var conditions: NextUpstreamConditions
        /// Tries left after this attempt's peer was released (nginx's `tries` after `peer.free`).
        var triesLeft: Int
        /// The request (head and what was sent of the body) can be sent again.
        var canReplay: Bool
        /// Bytes of this request went to some upstream (nginx's `request_sent`).
        var requestSent: Bool
        var isIdempotent: Bool
        /// Milliseconds since the request's first attempt, and `proxy_next_upstream_timeout` (0: none).
        var elapsedMilliseconds: Int64
        var timeoutMilliseconds: Int64
        /// The failed connection came from the keep-alive pool.
        var reusedConnection: Bool
    }

    enum Decision: Equatable {
        /// Select the next peer.
        case nextPeer
        /// Answer with maitred's own error page.
        case fail(status: Int)
    }

    /// A transport error on a pooled connection the upstream had already closed: the same peer again on a fresh
    /// connection, without counting a failure (nginx gives the try back in this case too). Asked first, before
    /// the peer is released. Within `proxy_next_upstream_timeout` only: nginx gives the try back before it tests
    /// the timeout.
    static func retriesOnFreshConnection(_ failure: Failure, _ attempt: Attempt) -> Bool {
        attempt.reusedConnection && failure == .error && attempt.canReplay
            && (attempt.isIdempotent || attempt.conditions.contains(.nonIdempotent))
            && !timedOut(attempt)
    }

    /// After a transport failure, before any response byte reached the client, once the peer was released with a
    /// failure (`attempt.triesLeft` counts after that release).
    static func afterFailure(_ failure: Failure, _ attempt: Attempt) -> Decision {
        let condition: NextUpstreamConditions
        let status: Int
        switch failure {
        case .error: condition = .error; status = 502
        case .timeout: condition = .timeout; status = 504
        case .invalidHeader: condition = .invalidHeader; status = 502
        }
        return mayTryNext(condition, attempt) ? .nextPeer : .fail(status: status)
    }

    /// After a response head whose status `proxy_next_upstream` may list: true when the response is refused and the
    /// next peer tried. `attempt.triesLeft` counts before this attempt's peer is released, so one try must remain
    /// beyond it (nginx's `u->peer.tries > 1`); otherwise the upstream's own answer goes to the client.
    /// `attempt` is only built for a status `proxy_next_upstream` lists (most responses are not).
    static func retriesStatus(
        _ status: Int, conditions: NextUpstreamConditions, _ attempt: @autoclosure () -> Attempt
    ) -> Bool {
        guard let condition = NextUpstreamConditions(status: status), conditions.contains(condition) else {
            return false
        }
        var afterRelease = attempt()
        afterRelease.triesLeft -= 1
        return mayTryNext(condition, afterRelease)
    }

    private static func mayTryNext(_ condition: NextUpstreamConditions, _ attempt: Attempt) -> Bool {
        guard attempt.conditions.contains(condition), attempt.triesLeft > 0, attempt.canReplay else { return false }
        // nginx does not repeat a POST, LOCK or PATCH that reached an upstream unless told to.
        if attempt.requestSent, !attempt.isIdempotent, !attempt.conditions.contains(.nonIdempotent) { return false }
        return !timedOut(attempt)
    }

    /// `proxy_next_upstream_timeout` has run out (nginx: `ngx_current_msec - u->peer.start_time >= timeout`).
    private static func timedOut(_ attempt: Attempt) -> Bool {
        attempt.timeoutMilliseconds > 0 && attempt.elapsedMilliseconds >= attempt.timeoutMilliseconds
    }
}
