#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A peak-sensitive moving average of a peer's response time (Finagle's and Linkerd's "peak EWMA"): a slower answer
/// than the average replaces it at once, a faster one pulls it down with a weight that grows with the time since the
/// last answer, and reading it decays it toward zero with the same time constant. So a server that was slow for a
/// moment is avoided at once and tried again a few seconds later, instead of being starved by its old average.
/// Pure; times are milliseconds of the caller's clock.
struct PeakEWMA: Sendable, Equatable {
    /// The time constant of the decay (Finagle's default).
    static let decayMilliseconds = 10_000.0

    private(set) var nanoseconds: Double = 0
    private(set) var stamp: Int64 = 0

    /// The average as of `now`, decayed since the last observation (0 before the first).
    func value(at now: Int64) -> Double {
        guard nanoseconds > 0 else { return 0 }
        let elapsed = Double(max(0, now - stamp))
        return nanoseconds * exp(-elapsed / Self.decayMilliseconds)
    }

    mutating func observe(nanoseconds sample: Int64, at now: Int64) {
        let sample = Double(max(0, sample))
        let current = value(at: now)
        if sample > current {
            nanoseconds = sample
        } else {
            let weight = exp(-Double(max(0, now - stamp)) / Self.decayMilliseconds)
            nanoseconds = current * weight + sample * (1 - weight)
        }
        stamp = now
    }
}
