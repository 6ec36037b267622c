import MaitreConfig
import NIOCore

/// One event loop's access logging: every request end is formatted on the loop into a reused buffer and handed to
/// its file's writer thread: for a log without `buffer=` at the end of the loop's current turn (every request
/// that ended in the turn in one hand-over, so the writer thread is woken once a turn rather than once a line,
/// which on a busy loop cost a quarter of its requests), for `buffer=` logs once the buffer is full or `flush=`
/// runs out. The loop never waits for a disk. Only ever touched on `eventLoop`.
final class AccessLogger: RequestEndObserver {
    private let eventLoop: any EventLoop
    private var writers: [String: LogWriter] = [:]
    private var buffers: [String: PendingLines] = [:]
    /// The last file a line went to: most configurations have one, so the lookup by path is made once.
    private var lastPath = ""
    private var lastWriter: LogWriter?
    private var lastPendingPath = ""
    private var lastPending: PendingLines?
    /// Unbuffered lines wait at most until the end of the loop's turn, and at most this many bytes.
    private static let turnLimit = 64 * 1024
    private var turnFlushScheduled = false
    /// Paths of logs without `buffer=`, whose gathered lines go out at the end of the turn.
    private var unbufferedPaths: Set<String> = []
    private let clock = LogClock()
    private let headerLines = HeaderLines()

    /// A class, so formatting appends to its bytes in place (a struct taken out of the dictionary would be
    /// copied).
    private final class PendingLines {
        var bytes: LogBytes
        var flushTimer: Scheduled<Void>?

        init(capacity: Int) {
            bytes = LogBytes(capacity: capacity)
        }
    }

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The files a configuration about to be served names (kept with those of earlier ones: requests in flight
    /// still log where their configuration said).
    func add(_ writers: [String: LogWriter]) {
        self.writers.merge(writers) { _, new in new }
        lastPath = ""
        lastWriter = nil
    }

    func requestEnded(_ end: RequestEnd) {
        guard !end.accessLogs.isEmpty else { return }
        clock.update()
        headerLines.reset()  // a new head: the offsets found for the last one do not apply
        let formatter = AccessLogLine(clock: clock, headerLines: headerLines)
        // Read in place: copying each `AccessLog` (its path, format and condition) would cost retains per line.
        end.accessLogs.withUnsafeBufferPointer { logs in
            guard let first = logs.baseAddress else { return }
            for index in logs.indices {
                let log = first + index
                if let condition = log.pointee.condition, !formatter.allows(condition, end: end) { continue }
                guard let writer = writer(for: log.pointee.path) else { continue }
                let pending = pendingLines(for: log.pointee.path, size: log.pointee.bufferSize ?? Self.turnLimit)
                // Formatted straight behind the lines already waiting: no copy of the line.
                let start = pending.bytes.count
                formatter.write(log, end: end, into: &pending.bytes)
                settle(pending, lineStart: start, path: log.pointee.path, bufferSize: log.pointee.bufferSize,
                       flush: log.pointee.flush, writer: writer)
            }
        }
    }

    /// A stream session ended: its line in each of its `access_log`s, the same way as a request's.
    func sessionEnded(_ end: StreamSessionEnd) {
        guard !end.accessLogs.isEmpty else { return }
        clock.update()
        let formatter = StreamLogLine(end: end, clock: clock)
        for log in end.accessLogs {
            if let condition = log.condition, !formatter.allows(condition) { continue }
            guard let writer = writer(for: log.path) else { continue }
            let pending = pendingLines(for: log.path, size: log.bufferSize ?? Self.turnLimit)
            let start = pending.bytes.count
            formatter.write(log.format, into: &pending.bytes)
            settle(pending, lineStart: start, path: log.path, bufferSize: log.bufferSize, flush: log.flush,
                   writer: writer)
        }
    }

    private func writer(for path: String) -> LogWriter? {
        if let lastWriter, path == lastPath { return lastWriter }
        lastWriter = writers[path]
        lastPath = path
        return lastWriter
    }

    private func pendingLines(for path: String, size: Int) -> PendingLines {
        if let lastPending, path == lastPendingPath { return lastPending }
        let pending: PendingLines
        if let existing = buffers[path] {
            pending = existing
        } else {
            pending = PendingLines(capacity: size + 1024)
            buffers[path] = pending
        }
        lastPending = pending
        lastPendingPath = path
        return pending
    }

    /// A line was appended at `lineStart`: hands the gathered lines over when they reach the log's size (the
    /// earlier ones first when the new line does not fit behind them), otherwise makes sure they go out at the
    /// end of the turn (no `buffer=`) or when `flush=` runs out. The log's path, `buffer=` and `flush=` are
    /// passed one by one: passing the `AccessLog` would copy (and retain) its format per line.
    private func settle(
        _ pending: PendingLines, lineStart: Int, path: String, bufferSize: Int?, flush: TimeSpan?, writer: LogWriter
    ) {
        let size = bufferSize ?? Self.turnLimit
        var handedOver = false
        if lineStart > 0, pending.bytes.count > size {
            pending.bytes.withBytes { writer.append(raw: UnsafeRawBufferPointer(rebasing: $0[0..<lineStart])) }
            pending.bytes.removeFirst(lineStart)
            handedOver = true
        }
        if pending.bytes.count >= size {
            pending.bytes.withBytes { writer.append(raw: $0) }
            pending.bytes.removeAll()
        } else if bufferSize == nil {
            // Noted once per turn: the first line since the last hand-over.
            if lineStart == 0 || handedOver { unbufferedPaths.insert(path) }
            if !turnFlushScheduled {
                turnFlushScheduled = true
                // Captured strongly: the logger lives as long as its loop, and a weak reference would give it a
                // side table, which makes every retain of it (one per request end) take the slow path.
                eventLoop.assumeIsolated().execute { self.endOfTurn() }
            }
        } else if pending.flushTimer == nil, let flush {
            let path = path
            pending.flushTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(flush.milliseconds)) {
                self.flush(path)
            }
        }
    }

    private func endOfTurn() {
        turnFlushScheduled = false
        for path in unbufferedPaths { flush(path) }
        unbufferedPaths.removeAll(keepingCapacity: true)
    }

    /// Hands every gathered line to its writer (reopen, stop).
    func flushAll() {
        for path in Array(buffers.keys) { flush(path) }
    }

    private func flush(_ path: String) {
        guard let pending = buffers[path] else { return }
        pending.flushTimer?.cancel()
        pending.flushTimer = nil
        if !pending.bytes.isEmpty, let writer = writers[path] {
            pending.bytes.withBytes { writer.append(raw: $0) }
        }
        pending.bytes.removeAll()
    }
}

@available(*, unavailable)
extension AccessLogger: Sendable {}
