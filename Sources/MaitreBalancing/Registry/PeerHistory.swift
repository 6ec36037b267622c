/// What happened to one peer lately, for the status page and the API: its active check's results (counts, the
/// current streak and why it fails) and the last events (verdict changes, operator actions), with wall-clock
/// times in milliseconds since the epoch. Pure; kept by the registry beside the peer's record, bounded.
public struct PeerHistory: Sendable, Equatable {
    public struct Event: Sendable, Equatable {
        public let milliseconds: Int64
        public let text: String
    }

    /// Events kept (the oldest go first).
    public static let capacity = 20

    /// Oldest first.
    public private(set) var events: [Event] = []
    /// Probes made, probes failed, and times the check took the peer down (nginx Plus's `checks`, `fails`,
    /// `unhealthy`).
    public private(set) var checks = 0
    public private(set) var checkFailures = 0
    public private(set) var timesUnhealthy = 0
    /// The last probe passed; nil before the first.
    public private(set) var lastPassed: Bool?
    /// Consecutive probes with the last one's result, and the last failure's reason.
    public private(set) var streak = 0
    public private(set) var lastFailureReason: String?
    /// How long the last probe took (nanoseconds), nil before the first.
    public private(set) var lastCheckNanoseconds: Int64?

    public init() {}

    /// One probe's result. `reason` says why it failed ("connection refused"); `transition` is the verdict's
    /// change, if this probe made one.
    public mutating func recordProbe(
        passed: Bool, reason: String?, transition: HealthCheckState.Transition?, at milliseconds: Int64,
        durationNanoseconds: Int64? = nil
    ) {
        checks += 1
        if let durationNanoseconds { lastCheckNanoseconds = max(0, durationNanoseconds) }
        if passed {
            streak = lastPassed == true ? streak + 1 : 1
        } else {
            checkFailures += 1
            streak = lastPassed == false ? streak + 1 : 1
            lastFailureReason = reason
        }
        lastPassed = passed
        switch transition {
        case .wentDown?:
            timesUnhealthy += 1
            note("went down: " + summary, at: milliseconds)
        case .cameUp?:
            note("came up: " + summary, at: milliseconds)
        case nil:
            break
        }
    }

    /// "5 checks failed: connection refused", "passing (3 checks in a row)", or "not checked yet".
    public var summary: String {
        guard let lastPassed else { return "not checked yet" }
        if lastPassed {
            return streak == 1 ? "1 check passed" : "passing (\(streak) checks in a row)"
        }
        let count = streak == 1 ? "1 check failed" : "\(streak) checks failed"
        return lastFailureReason.map { count + ": " + $0 } ?? count
    }

    /// Adds an event (an operator's action, a restored state).
    public mutating func note(_ text: String, at milliseconds: Int64) {
        events.append(Event(milliseconds: milliseconds, text: text))
        if events.count > Self.capacity { events.removeFirst(events.count - Self.capacity) }
    }
}
