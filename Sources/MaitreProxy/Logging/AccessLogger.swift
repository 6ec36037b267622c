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
    private var line: [UInt8] = []

    /// A class, so appending to its bytes never copies them (a struct taken out of the dictionary would).
    private final class PendingLines {
        var bytes: [UInt8] = []
        var flushTimer: Scheduled<Void>?
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
        let formatter = AccessLogLine(clock: clock)
        // Read in place: copying each `AccessLog` (its path, format and condition) would cost retains per line.
        end.accessLogs.withUnsafeBufferPointer { logs in
            for index in logs.indices {
                if let condition = logs[index].condition, !formatter.allows(condition, end: end) { continue }
                guard let writer = writer(for: logs[index].path) else { continue }
                line.removeAll(keepingCapacity: true)
                formatter.write(logs[index].format, end: end, into: &line)
                hand(line, path: logs[index].path, bufferSize: logs[index].bufferSize, flush: logs[index].flush, writer: writer)
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
            line.removeAll(keepingCapacity: true)
            formatter.write(log.format, into: &line)
            hand(line, path: log.path, bufferSize: log.bufferSize, flush: log.flush, writer: writer)
        }
    }

    /// The log's path, `buffer=` and `flush=` are passed one by one: passing the `AccessLog` would copy (and
    /// retain) its format per line.
    private func hand(_ line: [UInt8], path: String, bufferSize: Int?, flush: TimeSpan?, writer: LogWriter) {
        if let size = bufferSize {
            gather(line, path: path, buffered: true, flush: flush, size: size, writer: writer)
        } else {
            gather(line, path: path, buffered: false, flush: nil, size: Self.turnLimit, writer: writer)
            if !turnFlushScheduled {
                turnFlushScheduled = true
                // Captured strongly: the logger lives as long as its loop, and a weak reference would give it a
                // side table, which makes every retain of it (one per request end) take the slow path.
                eventLoop.assumeIsolated().execute { self.endOfTurn() }
            }
        }
    }

    private func writer(for path: String) -> LogWriter? {
        if let lastWriter, path == lastPath { return lastWriter }
        lastWriter = writers[path]
        lastPath = path
        return lastWriter
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

    private func gather(_ line: [UInt8], path: String, buffered: Bool, flush: TimeSpan?, size: Int, writer: LogWriter) {
        let pending: PendingLines
        if let lastPending, path == lastPendingPath {
            pending = lastPending
        } else if let existing = buffers[path] {
            pending = existing
        } else {
            pending = PendingLines()
            pending.bytes.reserveCapacity(size)
            buffers[path] = pending
        }
        lastPending = pending
        lastPendingPath = path
        if !pending.bytes.isEmpty, pending.bytes.count + line.count > size {
            writer.append(bytes: pending.bytes)
            pending.bytes.removeAll(keepingCapacity: true)
        }
        pending.bytes.append(contentsOf: line)
        if pending.bytes.count >= size {
            writer.append(bytes: pending.bytes)
            pending.bytes.removeAll(keepingCapacity: true)
        } else if !buffered {
            // Noted once per turn: the first line since the last hand-over.
            if pending.bytes.count == line.count { unbufferedPaths.insert(path) }
        } else if pending.flushTimer == nil, let flush {
            let path = path
            pending.flushTimer = eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(flush.milliseconds)) {
                self.flush(path)
            }
        }
    }

    private func flush(_ path: String) {
        guard let pending = buffers[path] else { return }
        pending.flushTimer?.cancel()
        pending.flushTimer = nil
        if !pending.bytes.isEmpty, let writer = writers[path] {
            writer.append(bytes: pending.bytes)
        }
        pending.bytes.removeAll(keepingCapacity: true)
    }
}

@available(*, unavailable)
extension AccessLogger: Sendable {}
