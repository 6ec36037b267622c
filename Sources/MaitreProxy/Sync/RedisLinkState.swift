import MaitreConfig
import MaitreWire

/// The life of one connection to Redis, as a pure machine: connect, send the handshake (AUTH, SELECT or
/// PSUBSCRIBE), wait for each of its answers, serve, and after any failure wait and connect again, the wait
/// doubling from 100 ms up to 5 s. The first failure of an outage is logged at `error`, the recovery at `notice`;
/// failures in between are not repeated. `RedisLink` runs the actions.
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
        /// A reply (or pushed message) once ready.
        case deliver(RESPValue)
        /// A ready link was lost: what was in flight on it has no answer.
        case lost
    }

    let name: String
    let handshake: [[UInt8]]
    private(set) var state = State.idle
    /// An outage is being reported: its first failure was logged, later ones are not.
    private var inOutage = false

    init(name: String, handshake: [[UInt8]]) {
        self.name = name
        self.handshake = handshake
    }

    mutating func start() -> [Action] {
        guard state == .idle else { return [] }
        state = .connecting(attempt: 0)
        return [.connect]
    }

    mutating func connected() -> [Action] {
        guard case .connecting(let attempt) = state else { return [.close] }
        if handshake.isEmpty { return becomeReady() }
        state = .handshaking(remaining: handshake.count, attempt: attempt)
        return [.send(handshake)]
    }

    mutating func connectFailed(_ reason: String) -> [Action] {
        guard case .connecting(let attempt) = state else { return [] }
        return fail(attempt: attempt, "connect() to \(name) failed (\(reason))")
    }

    mutating func received(_ value: RESPValue) -> [Action] {
        switch state {
        case .handshaking(let remaining, let attempt):
            if case .error(let message) = value {
                return [.close] + fail(attempt: attempt, "\(name) refused the handshake: \(String(decoding: message, as: UTF8.self))")
            }
            if remaining > 1 {
                state = .handshaking(remaining: remaining - 1, attempt: attempt)
                return []
            }
            return becomeReady()
        case .ready:
            return [.deliver(value)]
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
            return [.lost] + fail(attempt: 0, "connection to \(name) was closed")
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

    var isReady: Bool { state == .ready }

    private mutating func becomeReady() -> [Action] {
        state = .ready
        var actions: [Action] = []
        if inOutage {
            inOutage = false
            actions.append(.log(.notice, "connected to \(name) again"))
        }
        return actions + [.becameReady]
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
