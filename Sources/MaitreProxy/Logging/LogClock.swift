#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall-clock texts of the access log, made at most once a second per event loop (`$msec` every line).
final class LogClock {
    private var second: time_t = -1
    private(set) var timeLocal: [UInt8] = []
    private(set) var timeISO8601: [UInt8] = []
    /// `$msec`'s parts.
    private(set) var seconds = 0
    private(set) var milliseconds = 0

    /// Brings the texts to now.
    func update() {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        seconds = Int(now.tv_sec)
        milliseconds = Int(now.tv_nsec / 1_000_000)
        guard now.tv_sec != second else { return }
        second = now.tv_sec
        var t = now.tv_sec
        var parts = tm()
        localtime_r(&t, &parts)
        timeLocal = Array((Self.format(parts, "%d/%b/%Y:%H:%M:%S ") + Self.offset(parts.tm_gmtoff, colon: false)).utf8)
        timeISO8601 = Array((Self.format(parts, "%Y-%m-%dT%H:%M:%S") + Self.offset(parts.tm_gmtoff, colon: true)).utf8)
    }

    private static func format(_ parts: tm, _ pattern: String) -> String {
        var parts = parts
        var buffer = [Int8](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `+0000` (`$time_local`) or `+00:00` (`$time_iso8601`).
    private static func offset(_ seconds: Int, colon: Bool) -> String {
        let sign = seconds < 0 ? "-" : "+"
        let minutes = abs(seconds) / 60
        let hours = minutes / 60
        let rest = minutes % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : String(v) }
        return sign + two(hours) + (colon ? ":" : "") + two(rest)
    }
}

@available(*, unavailable)
extension LogClock: Sendable {}
