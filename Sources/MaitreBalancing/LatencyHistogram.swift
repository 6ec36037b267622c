/// Response times in fixed buckets, fine enough for a status page's p50 and p99 on a LAN (a quarter of a
/// millisecond at the bottom) and wide enough for a slow upstream (a minute at the top). Counts per bucket, not
/// cumulative; the last bucket is everything over the last bound. Adding two histograms adds their counts, so
/// per-loop histograms are summed when read and a reader takes the difference of two readings for a window.
/// The bounds include Prometheus's default buckets, so the metrics page derives its histograms from these.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in milliseconds.
    public static let boundsMilliseconds: [Double] = [
        0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 15, 20, 25, 30, 50, 75, 100, 150, 200, 250, 300, 500, 750,
        1000, 1500, 2000, 2500, 3000, 5000, 10000, 30000, 60000,
    ]
    private static let boundsNanoseconds: [Int64] = boundsMilliseconds.map { Int64($0 * 1_000_000) }

    /// One count per bound, then the overflow bucket.
    public private(set) var counts = [Int](repeating: 0, count: LatencyHistogram.boundsMilliseconds.count + 1)
    /// The sum of every observation (Prometheus's `_sum`).
    public private(set) var sumNanoseconds: Int64 = 0

    public init() {}

    public var total: Int { counts.reduce(0, +) }

    public mutating func observe(nanoseconds: Int64) {
        let value = max(0, nanoseconds)
        var index = 0
        let bounds = Self.boundsNanoseconds
        while index < bounds.count, value > bounds[index] { index += 1 }
        counts[index] += 1
        sumNanoseconds &+= value
    }

    /// Observations at or under `milliseconds`, exact when it is one of `boundsMilliseconds`.
    public func count(atMostMilliseconds milliseconds: Double) -> Int {
        var sum = 0
        // A micro-millisecond of slack: a bound given in seconds and scaled (0.025 × 1000) is not exact in binary.
        for (index, bound) in Self.boundsMilliseconds.enumerated() where bound <= milliseconds + 1e-6 {
            sum += counts[index]
        }
        return sum
    }

    public static func + (lhs: LatencyHistogram, rhs: LatencyHistogram) -> LatencyHistogram {
        var out = lhs
        for index in out.counts.indices { out.counts[index] &+= rhs.counts[index] }
        out.sumNanoseconds &+= rhs.sumNanoseconds
        return out
    }

    /// The q-quantile (0...1) in milliseconds, interpolated inside its bucket; nil with no observations, and
    /// the last bound for a quantile that falls in the overflow bucket.
    public func quantile(_ q: Double) -> Double? {
        let total = total
        guard total > 0 else { return nil }
        let rank = max(0, min(1, q)) * Double(total)
        var below = 0
        for (index, count) in counts.enumerated() where count > 0 {
            if Double(below + count) >= rank {
                guard index < Self.boundsMilliseconds.count else { return Self.boundsMilliseconds.last }
                let lower = index == 0 ? 0 : Self.boundsMilliseconds[index - 1]
                let upper = Self.boundsMilliseconds[index]
                let fraction = (rank - Double(below)) / Double(count)
                return lower + (upper - lower) * max(0, min(1, fraction))
            }
            below += count
        }
        return Self.boundsMilliseconds.last
    }
}
