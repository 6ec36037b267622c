/// A configured duration, kept in milliseconds as nginx keeps `ngx_msec_t`.
public struct TimeSpan: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func seconds(_ s: Int64) -> TimeSpan { TimeSpan(milliseconds: s * 1000) }
    public static let zero = TimeSpan(milliseconds: 0)
    /// Whole seconds, rounded down, for settings nginx keeps in seconds (`fail_timeout`).
    public var wholeSeconds: Int64 { milliseconds / 1000 }
    public var nanoseconds: Int64 { milliseconds * 1_000_000 }
    public static func < (a: TimeSpan, b: TimeSpan) -> Bool { a.milliseconds < b.milliseconds }
    public var description: String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}

extension TimeSpan {
    /// A time written as nginx writes one for a millisecond value (`30s`, `1m30s`, `500ms`; a bare number is
    /// seconds); nil when nginx would refuse it. For command-line values (`-s drain … --wait 30s`).
    public static func parse(_ text: String) -> TimeSpan? {
        Units.milliseconds(text)
    }
}
