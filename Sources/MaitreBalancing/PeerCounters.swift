/// One peer's request counters on one event loop, for status pages and metrics. A class so that every balancer a
/// loop builds for the same registry record (the current one, and older ones that requests in flight since a reload
/// still release into) adds to the same cell; the loop keeps the cell for as long as the record lives. Confined to
/// its loop like the balancers, so the request path increments plain integers: no lock, no atomic.
public final class PeerCounters {
    /// Times the peer was selected for an attempt (nginx Plus `requests`, counting retries as attempts).
    public internal(set) var selected = 0
    /// Attempts released as failed (nginx Plus `fails`): errors, timeouts, invalid headers, listed statuses.
    public internal(set) var failed = 0
    /// Times a failure left the peer unavailable by max_fails (nginx Plus `unavail`; the "temporarily disabled" log).
    public internal(set) var disabled = 0
    /// Attempts holding the peer now (selected, not yet released): nginx Plus's `active`.
    public internal(set) var active = 0
    /// How long the peer's attempts took, start to the end of the response or the failure (recorded by the
    /// request-end observer while a status page or metrics are configured).
    public private(set) var responseTimes = LatencyHistogram()

    public init() {}

    public func observeResponse(nanoseconds: Int64) {
        responseTimes.observe(nanoseconds: nanoseconds)
    }

    /// A copy to hand to another thread.
    public var values: PeerCounterValues {
        PeerCounterValues(
            selected: selected, failed: failed, disabled: disabled, active: active, responseTimes: responseTimes)
    }
}

@available(*, unavailable)
extension PeerCounters: Sendable {}

/// Counter values read from one or more loops' `PeerCounters`.
public struct PeerCounterValues: Sendable, Equatable {
    public var selected: Int
    public var failed: Int
    public var disabled: Int
    public var active: Int
    public var responseTimes: LatencyHistogram

    public init(
        selected: Int = 0, failed: Int = 0, disabled: Int = 0, active: Int = 0,
        responseTimes: LatencyHistogram = LatencyHistogram()
    ) {
        self.selected = selected
        self.failed = failed
        self.disabled = disabled
        self.active = active
        self.responseTimes = responseTimes
    }

    public static func + (lhs: PeerCounterValues, rhs: PeerCounterValues) -> PeerCounterValues {
        PeerCounterValues(
            selected: lhs.selected + rhs.selected, failed: lhs.failed + rhs.failed,
            disabled: lhs.disabled + rhs.disabled, active: lhs.active + rhs.active,
            responseTimes: lhs.responseTimes + rhs.responseTimes)
    }
}
