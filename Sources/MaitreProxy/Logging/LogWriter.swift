#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOConcurrencyHelpers

/// Writes log lines to a file from a thread of its own, so an event loop never blocks on the disk: `append` copies
/// a formatted line into a bounded buffer under a short lock (no system call) and wakes the writer, which writes
/// everything pending with one write(2) per batch. A slow, full or unwritable disk costs lines, never latency:
/// past `limit` pending bytes lines are dropped and counted, and the loss is reported (on standard error, and in
/// the log once it is writable again).
final class LogWriter: Sendable {
    private struct Pending {
        var bytes: [UInt8] = []
        var dropped = 0
        var reopenRequested = false
        /// Batches handed to the writer and not written yet, for `flush`.
        var inFlight = false
        /// The writer was woken and has not taken the pending bytes yet: later lines ride along without waking
        /// it again (one wake per batch under load, not one per line).
        var wakeRequested = false
    }

    private let path: String
    private let limit: Int
    /// What the loss report calls the lines: "error log", "access log".
    private let label: String
    /// Where an access log's troubles are told (the error log); nil for the error log itself, whose losses go
    /// into its own file and whose failures to standard error.
    private let problems: (@Sendable (String) -> Void)?
    private let state: ConditionLock<Int>
    private let pending = NIOLockedValueBox(Pending())

    private static let idle = 0
    private static let hasWork = 1

    /// `descriptor` is already open on `path` ("stderr" for 2); the writer owns it from now on.
    init(
        path: String, descriptor: Int32, limit: Int = 1 << 20, label: String = "error log",
        problems: (@Sendable (String) -> Void)? = nil
    ) {
        self.path = path
        self.limit = limit
        self.label = label
        self.problems = problems
        self.state = ConditionLock(value: Self.idle)
        let box = Unmanaged.passRetained(WriterContext(writer: self, descriptor: descriptor))
        // The writer lives as long as the process (the log is process-wide); it holds itself through its context.
        var handle = pthread_t()
        let rc = pthread_create(&handle, nil, { raw in
            guard let raw else { return nil }
            let context = Unmanaged<WriterContext>.fromOpaque(raw).takeRetainedValue()
            context.writer.run(descriptor: context.descriptor)
            return nil
        }, box.toOpaque())
        if rc == 0 {
            pthread_detach(handle)
        } else {
            box.release()
            Self.reportToStandardError("could not start the log writer thread (\(rc)): log lines are lost")
        }
    }

    /// Queues one line (already terminated); never blocks on I/O.
    func append(_ line: String) {
        var line = line
        line.withUTF8 { append(raw: UnsafeRawBufferPointer($0)) }
    }

    /// Queues bytes that end in a line end (a logger's batch of access-log lines, still the caller's): copied
    /// once, under the lock; never blocks on I/O.
    func append(raw bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let wakeNeeded = pending.withLockedValue { pending -> Bool in
            guard pending.bytes.count + bytes.count <= limit else {
                pending.dropped += 1
                return false
            }
            pending.bytes.append(contentsOf: UnsafeBufferPointer(
                start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count))
            let needsWake = !pending.wakeRequested
            pending.wakeRequested = true
            return needsWake
        }
        if wakeNeeded { wake() }
    }

    /// The writer reopens the file before its next batch (SIGUSR1 / `-s reopen`).
    func reopen() {
        pending.withLockedValue { $0.reopenRequested = true }
        wake()
    }

    /// Waits until what was queued so far is written, at most `timeout` seconds (used at exit).
    func flush(timeout: Double = 2) {
        let deadline = monotonicSeconds() + timeout
        while pending.withLockedValue({ !$0.bytes.isEmpty || $0.inFlight }) {
            if monotonicSeconds() >= deadline { return }
            wake()
            usleep(1_000)
        }
    }

    private func wake() {
        state.lock()
        state.unlock(withValue: Self.hasWork)
    }

    private func run(descriptor initial: Int32) {
        var descriptor = initial
        var batch: [UInt8] = []
        var failureReported = false
        while true {
            state.lock(whenValue: Self.hasWork)
            state.unlock(withValue: Self.idle)
            var dropped = 0
            var reopen = false
            pending.withLockedValue { pending in
                swap(&batch, &pending.bytes)
                pending.wakeRequested = false
                dropped = pending.dropped
                pending.dropped = 0
                reopen = pending.reopenRequested
                pending.reopenRequested = false
                pending.inFlight = !batch.isEmpty || dropped > 0
            }
            if reopen, path != "stderr" {
                let fresh = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                if fresh >= 0 {
                    if descriptor > 2 { close(descriptor) }
                    descriptor = fresh
                } else {
                    report("reopen() \"\(path)\" failed (\(errno): \(String(cString: strerror(errno))))")
                }
            }
            if dropped > 0 {
                if problems != nil {
                    report("\(dropped) \(label) writes to \"\(path)\" dropped (the log could not keep up)")
                } else {
                    let note = "\(ErrorLog.timestamp()) [alert] \(getpid())#0: \(dropped) \(label) writes dropped "
                        + "(the log could not keep up)\n"
                    batch.insert(contentsOf: Array(note.utf8), at: 0)
                }
            }
            if !batch.isEmpty {
                if Self.writeAll(batch, to: descriptor) {
                    failureReported = false
                } else if !failureReported {
                    failureReported = true
                    report("write() to \"\(path)\" failed (\(errno): \(String(cString: strerror(errno)))), log lines lost")
                }
                batch.removeAll(keepingCapacity: batch.capacity <= 64 * 1024)
            }
            pending.withLockedValue { $0.inFlight = false }
        }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += n
            }
            return true
        }
    }

    private func report(_ message: String) {
        if let problems { problems(message) } else { Self.reportToStandardError(message) }
    }

    private static func reportToStandardError(_ message: String) {
        let line = "maitred: [alert] \(message)\n"
        line.withCString { _ = write(2, $0, strlen($0)) }
    }
}

private final class WriterContext {
    let writer: LogWriter
    let descriptor: Int32
    init(writer: LogWriter, descriptor: Int32) {
        self.writer = writer
        self.descriptor = descriptor
    }
}

private func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
