/// One server's active-check verdict, as the upstream check module keeps it (ngx_http_upstream_check_status_update):
/// consecutive successes and failures, and whether the server is down. A success adds to the rise count and clears
/// the fall count, a failure the reverse; a down server comes up once the rise count reaches `rise`, an up one goes
/// down once the fall count reaches `fall`. The counts are not capped (the status page shows how long a streak is).
/// Pure: the checker feeds it results.
public struct HealthCheckState: Sendable, Equatable {
    public let rise: Int
    public let fall: Int
    public private(set) var isDown: Bool
    public private(set) var riseCount = 0
    public private(set) var fallCount = 0
    /// Probes recorded so far (0: the server has not been checked yet).
    public private(set) var checks = 0

    public enum Transition: Sendable, Equatable {
        /// The module logs "enable check peer".
        case cameUp
        /// The module logs "disable check peer".
        case wentDown
    }

    /// `defaultDown`: servers start down and get no traffic until `rise` successes (the module's default).
    public init(rise: Int, fall: Int, defaultDown: Bool) {
        self.rise = max(1, rise)
        self.fall = max(1, fall)
        self.isDown = defaultDown
    }

    /// Records one probe's result; returns the transition it caused, if any.
    public mutating func record(success: Bool) -> Transition? {
        checks += 1
        if success {
            riseCount += 1
            fallCount = 0
            if isDown, riseCount >= rise {
                isDown = false
                return .cameUp
            }
        } else {
            fallCount += 1
            riseCount = 0
            if !isDown, fallCount >= fall {
                isDown = true
                return .wentDown
            }
        }
        return nil
    }
}
