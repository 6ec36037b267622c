import MaitreConfig
import MaitreWire

/// The life of one connection to Redis, as a pure machine: connect, send the handshake (AUTH, SELECT or
/// PSUBSCRIBE), wait for each of its answers, serve, and after any failure wait and connect again, the wait
/// doubling from 100 ms up to 5 s. A server that leaves a command (or the handshake) unanswered for `timeout`
/// is given up on like a closed one; an idle link is PINGed every half `timeout`, so a dead peer is noticed
/// without traffic. The first failure of an outage is logged at `error`, the recovery at `notice`; failures in
/// between are not repeated. `RedisLink` runs the actions; time is passed in (milliseconds).
struct RedisLinkState {
    enum State: Equatable {
        case idle
        case connecting(attempt: Int)
        /// Connected; this many handshake answers are still to come.
        case handshaking(remaining: Int, attempt: Int)
        case ready
        case waiting(attempt: Int)
        case stopped
    }

    enum Action: Equatable {
        case connect
        /// Commands to write, each already RESP-encoded.
        case send([[UInt8]])
        case close
        case retry(afterMilliseconds: Int64)
        case log(LogLevel, String)
        /// The handshake is done: the link serves from now on.
        case becameReady
        /// A reply to the owner's command, or a message pushed by the server.
        case deliver(RESPValue)
        /// A ready link was lost: what was in flight on it has no answer.
        case lost
    }

    /// What the next reply answers, in the order commands were sent (Redis answers in order).
    private enum Awaited { case owner, ping }

    static let ping = RESPCommand.encode(["PING"])
    /// Unanswered commands at which the link counts as full: the owner's commands are then refused.
    static let maxAwaited = 10_000

    let name: String
    let handshake: [[UInt8]]
    let timeout: Int64
    private(set) var state = State.idle
    /// An outage is being reported: its first failure was logged, later ones are not.
    private var inOutage = false
    private var awaited = FIFO<Awaited>()
    /// When the server last sent something (or the connection or a command started), and when we last wrote.
    private var lastHeard: Int64 = 0
    private var lastSent: Int64 = 0

    init(name: String, handshake: [[UInt8]], timeout: Int64) {
        self.name = name
        self.handshake = handshake
        self.timeout = max(1, timeout)
    }

    var isReady: Bool { state == .ready }

    /// Ready, and not so far behind that more commands would only pile up.
    var acceptsCommands: Bool { state == .ready && awaitedCount < Self.maxAwaited }

    var awaitedCount: Int { awaited.count }

    mutating func start() -> [Action] {
        guard state == .idle else { return [] }
        state = .connecting(attempt: 0)
        return [.connect]
    }

    mutating func connected(now: Int64) -> [Action] {
        guard case .connecting(let attempt) = state else { return [.close] }
        lastHeard = now
        lastSent = now
        if handshake.isEmpty { return becomeReady() }
        state = .handshaking(remaining: handshake.count, attempt: attempt)
        return [.send(handshake)]
    }

    mutating func connectFailed(_ reason: String) -> [Action] {
        guard case .connecting(let attempt) = state else { return [] }
        return fail(attempt: attempt, "connect() to \(name) failed (\(reason))")
    }

    /// The owner wrote `count` commands: their replies are delivered to it in order.
    mutating func sent(_ count: Int, now: Int64) {
        guard state == .ready else { return }
        if awaitedCount == 0 { lastHeard = now }  // the wait for an answer starts now
        lastSent = now
        for _ in 0..<count { awaited.append(.owner) }
    }

    mutating func received(_ value: RESPValue, now: Int64) -> [Action] {
        lastHeard = now
        switch state {
        case .handshaking(let remaining, let attempt):
            if case .error(let message) = value {
                return [.close] + fail(attempt: attempt, "\(name) refused the handshake: \(String(decoding: message.prefix(200), as: UTF8.self))")
            }
            if remaining > 1 {
                state = .handshaking(remaining: remaining - 1, attempt: attempt)
                return []
            }
            return becomeReady()
        case .ready:
            // Messages a subscription pushes answer no command.
            if Self.isPush(value) { return [.deliver(value)] }
            guard let answered = awaited.popFirst() else { return [.deliver(value)] }
            return answered == .ping ? [] : [.deliver(value)]
        default:
            return []
        }
    }

    /// Every second or so: a link waiting too long for an answer is given up on; an idle one is PINGed.
    mutating func tick(now: Int64) -> [Action] {
        switch state {
        case .handshaking(_, let attempt):
            guard now - lastHeard >= timeout else { return [] }
            return [.close] + fail(attempt: attempt, "\(name) did not answer the handshake in \(timeout) ms")
        case .ready:
            if awaitedCount > 0 {
                guard now - lastHeard >= timeout else { return [] }
                return [.close] + failReady("\(name) did not answer in \(timeout) ms")
            }
            guard now - lastSent >= timeout / 2 else { return [] }
            lastSent = now
            lastHeard = now
            awaited.append(.ping)
            return [.send([Self.ping])]
        default:
            return []
        }
    }

    /// The peer broke the protocol: the connection is closed (`closed` follows).
    mutating func protocolError(_ reason: String) -> [Action] {
        switch state {
        case .handshaking, .ready: return [.log(.error, "\(name) sent an invalid reply: \(reason)"), .close]
        default: return []
        }
    }

    mutating func closed() -> [Action] {
        switch state {
        case .ready:
            return failReady("connection to \(name) was closed")
        case .handshaking(_, let attempt), .connecting(let attempt):
            return fail(attempt: attempt, "connection to \(name) was closed during the handshake")
        default:
            return []
        }
    }

    mutating func retryTimerFired() -> [Action] {
        guard case .waiting(let attempt) = state else { return [] }
        state = .connecting(attempt: attempt)
        return [.connect]
    }

    mutating func stop() -> [Action] {
        let wasConnected: Bool
        switch state {
        case .handshaking, .ready, .connecting: wasConnected = true
        default: wasConnected = false
        }
        state = .stopped
        return wasConnected ? [.close] : []
    }

    /// `message` and `pmessage` arrays: what a subscription pushes.
    static func isPush(_ value: RESPValue) -> Bool {
        guard let first = value.elements?.first?.bytes else { return false }
        return first.elementsEqual("pmessage".utf8) || first.elementsEqual("message".utf8)
    }

    private mutating func becomeReady() -> [Action] {
        state = .ready
        awaited.removeAll()
        var actions: [Action] = []
        if inOutage {
            inOutage = false
            actions.append(.log(.notice, "connected to \(name) again"))
        }
        return actions + [.becameReady]
    }

    private mutating func failReady(_ message: String) -> [Action] {
        awaited.removeAll()
        return [.lost] + fail(attempt: 0, message)
    }

    private mutating func fail(attempt: Int, _ message: String) -> [Action] {
        if case .waiting = state { return [] }
        state = .waiting(attempt: attempt + 1)
        var actions: [Action] = []
        if !inOutage {
            inOutage = true
            actions.append(.log(.error, "zone_sync_redis: \(message), retrying"))
        }
        let delay = min(5_000, Int64(100) << Int64(min(attempt, 6)))
        return actions + [.retry(afterMilliseconds: delay)]
    }
}
