#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

/// What an upstream connection reports to the request currently using it. All calls happen on the
/// connection's event loop, which is also the client connection's loop.
protocol UpstreamResponseReceiver: AnyObject {
    func upstreamResponseHead(_ head: UpstreamResponseHead)
    func upstreamResponseBody(_ body: ByteBuffer)
    func upstreamResponseEnd()
    func upstreamReadComplete()
    func upstreamWritabilityChanged(isWritable: Bool)
    func upstreamFailed(_ failure: UpstreamFailure)
}

/// Why an upstream exchange ended early, in nginx's `proxy_next_upstream` vocabulary.
enum UpstreamFailure: Error, Equatable {
    /// Connection refused/reset/closed, or any other transport error (`error`).
    case error(String)
    /// connect, send or read timeout (`timeout`).
    case timeout(String)
    /// The upstream sent something that is not a valid HTTP response head (`invalid_header`).
    case invalidHeader(String)

    var message: String {
        switch self {
        case .error(let m), .timeout(let m), .invalidHeader(let m): return m
        }
    }
}

extension IOError {
    /// The system's words for the error, as nginx writes them after the errno (`111: Connection refused`).
    var localizedErrnoDescription: String {
        String(cString: strerror(errnoCode))
    }
}

/// Why a connect failed, as nginx words it inside `connect() failed (…)`: `111: Connection refused`; a connect
/// timeout is `110: Connection timed out`, flagged so callers can word it as nginx's timeout.
func connectFailureReason(_ error: any Error) -> (text: String, timedOut: Bool) {
    if let channelError = error as? ChannelError, case .connectTimeout = channelError {
        return ("110: Connection timed out", true)
    }
    if let connectionError = error as? NIOConnectionError {
        for attempt in connectionError.connectionErrors {
            if let io = attempt.error as? IOError { return ("\(io.errnoCode): \(io.localizedErrnoDescription)", false) }
        }
        if let dns = connectionError.dnsAError ?? connectionError.dnsAAAAError { return ("\(dns)", false) }
    }
    if let io = error as? IOError { return ("\(io.errnoCode): \(io.localizedErrnoDescription)", false) }
    return ("\(error)", false)
}

extension UpstreamFailure {
    /// nginx's error-log wording for a failed connect.
    init(connectError error: any Error) {
        let reason = connectFailureReason(error)
        self = reason.timedOut
            ? .timeout("upstream timed out (\(reason.text)) while connecting to upstream")
            : .error("connect() failed (\(reason.text)) while connecting to upstream")
    }
}

/// One TCP connection to one upstream peer, either leased to a request or idle in its pool.
final class UpstreamConnection {
    enum State {
        /// Connected, never used yet.
        case fresh
        case leased(any UpstreamResponseReceiver)
        case idle(since: NIODeadline)
        case closed
    }

    let channel: any Channel
    let peerAddress: SocketAddress
    /// Index of the peer in its upstream's balancer (renumbered when a reload carries the connection over).
    var peerIndex: Int
    private(set) var state: State = .fresh
    /// When the connection was opened (by its loop's clock), for `keepalive_time`.
    let openedAt: NIODeadline
    /// The `poolTag` of the location that last used (or opened) it: under `keepalive N local` only that location
    /// reuses it.
    var poolTag = 0
    /// Requests sent over this connection, for `keepalive_requests`.
    private(set) var requestsSent = 0
    /// The channel's handler while it is in the pipeline (it clears this when removed). Held strongly, not weakly:
    /// a weak reference would give the handler a side table, and every retain of it (several per request) would
    /// take the slow path.
    var handler: UpstreamChannelHandler?
    /// The pool holding this connection while idle, told when the connection dies there.
    weak var idlePool: UpstreamConnectionPool?

    init(channel: any Channel, peerAddress: SocketAddress, peerIndex: Int) {
        self.channel = channel
        self.peerAddress = peerAddress
        self.peerIndex = peerIndex
        self.openedAt = channel.eventLoop.now
        LiveObjects.created(.upstreamConnection)
    }

    deinit { LiveObjects.destroyed(.upstreamConnection) }

    /// False once the connection's framing was seen broken: it finishes its exchange but is never pooled.
    private(set) var reusable = true

    /// Not `channel.isActive`: every way the channel closes passes through `close()` or `channelClosed()` (NIO
    /// fires channelInactive within its close), so `.closed` already says it, without copying the channel's
    /// lifecycle state (two retains and releases, twice per request).
    var isUsable: Bool {
        if case .closed = state { return false }
        return reusable
    }

    func forbidReuse() {
        reusable = false
    }

    func lease(to receiver: any UpstreamResponseReceiver) {
        state = .leased(receiver)
        requestsSent += 1
        handler?.leased()
    }

    func markIdle(now: NIODeadline) {
        state = .idle(since: now)
        handler?.becameIdle()
    }

    var receiver: (any UpstreamResponseReceiver)? {
        if case .leased(let r) = state { return r }
        return nil
    }

    var idleSince: NIODeadline? {
        if case .idle(let since) = state { return since }
        return nil
    }

    /// Closes the socket; safe to call more than once.
    func close() {
        if case .closed = state { return }
        if case .idle = state {
            // Closed while pooled (stray bytes, an error): leave the pool now, channelClosed will not know to.
            idlePool?.forget(self)
            idlePool = nil
        }
        state = .closed
        channel.close(promise: nil)
    }

    /// The upstream closed the connection to end a close-delimited response: nothing to report.
    func closedAfterResponse() {
        state = .closed
    }

    /// Called by the handler when the channel went inactive.
    func channelClosed() {
        let previous = state
        state = .closed
        switch previous {
        case .leased(let receiver):
            receiver.upstreamFailed(.error("upstream prematurely closed connection"))
        case .idle:
            idlePool?.forget(self)
        case .closed, .fresh:
            break
        }
    }
}

@available(*, unavailable)
extension UpstreamConnection: Sendable {}
