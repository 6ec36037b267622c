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

    public init() {}

    /// A copy to hand to another thread.
    public var values: PeerCounterValues {
        PeerCounterValues(selected: selected, failed: failed, disabled: disabled)
    }
}

@available(*, unavailable)
extension PeerCounters: Sendable {}

/// Counter values read from one or more loops' `PeerCounters`.
public struct PeerCounterValues: Sendable, Equatable {
    public var selected: Int
    public var failed: Int
    public var disabled: Int

    public init(selected: Int = 0, failed: Int = 0, disabled: Int = 0) {
        self.selected = selected
        self.failed = failed
        self.disabled = disabled
    }

    public static func + (lhs: PeerCounterValues, rhs: PeerCounterValues) -> PeerCounterValues {
        PeerCounterValues(
            selected: lhs.selected + rhs.selected, failed: lhs.failed + rhs.failed,
            disabled: lhs.disabled + rhs.disabled)
    }
}
