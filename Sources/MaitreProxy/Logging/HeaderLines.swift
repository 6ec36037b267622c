#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where each header line of one request head starts and ends, found once per access-log line and then shared
/// by every `$http_*`, `$cookie_*` and `$remote_user` of that line: a format with three of them used to scan the
/// head three times, line by line (a browser's head has a dozen lines). Owned by a loop's logger and reused;
/// `reset()` at the start of each request end, since the offsets belong to one head. Holds at most `capacity`
/// lines: a longer head is scanned per variable as before.
final class HeaderLines {
    struct Line {
        /// Offsets in the head of the line's first byte and of its end (before CR LF or LF).
        let start: Int
        let end: Int
    }

    static let capacity = 128
    private let lines = UnsafeMutablePointer<Line>.allocate(capacity: HeaderLines.capacity)
    private var count = 0
    private var state = State.unknown

    private enum State {
        /// Not looked at since the last reset.
        case unknown
        case indexed
        /// More lines than fit: callers scan the head themselves.
        case tooMany
    }

    deinit {
        lines.deallocate()
    }

    func reset() {
        state = .unknown
        count = 0
    }

    /// The header lines of `head` (the request line and the closing empty line left out), indexed on the first
    /// call after a reset; nil when the head has more lines than fit.
    func lines(of head: UnsafeRawBufferPointer) -> UnsafeBufferPointer<Line>? {
        if state == .unknown { index(head) }
        return state == .indexed ? UnsafeBufferPointer(start: lines, count: count) : nil
    }

    private func index(_ head: UnsafeRawBufferPointer) {
        state = .indexed
        count = 0
        guard let base = head.baseAddress, let first = memchr(base, 0x0A, head.count) else { return }
        var start = base.distance(to: UnsafeRawPointer(first)) + 1
        while start < head.count {
            let newline = memchr(base + start, 0x0A, head.count - start).map { base.distance(to: UnsafeRawPointer($0)) }
            var end = newline ?? head.count
            if end > start, head[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            if end > start {
                guard count < Self.capacity else {
                    state = .tooMany
                    return
                }
                lines[count] = Line(start: start, end: end)
                count += 1
            }
            guard let newline else { return }
            start = newline + 1
        }
    }
}

@available(*, unavailable)
extension HeaderLines: Sendable {}
