#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig

/// nginx-format error log: `2026/11/25 04:11:38 [error] 1234#0: *5 message`. Lines are formatted by the caller and
/// written by a `LogWriter` thread in batches: logging never blocks an event loop on the disk, and a full or
/// unwritable disk costs log lines, not requests.
public final class ErrorLog: Sendable {
    public let level: LogLevel
    private let path: String
    private let writer: LogWriter

    /// Opens `setting.path` for appending (`stderr` writes to standard error). Throws a message naming the file.
    public init(setting: ErrorLogSetting) throws(ErrorLogOpenError) {
        self.level = setting.level
        self.path = setting.path
        self.writer = LogWriter(path: setting.path, descriptor: try Self.open(path: setting.path))
    }

    /// A log that writes to standard error at `level`.
    public init(stderrAt level: LogLevel) {
        self.level = level
        self.path = "stderr"
        self.writer = LogWriter(path: "stderr", descriptor: 2)
    }

    private static func open(path: String) throws(ErrorLogOpenError) -> Int32 {
        if path == "stderr" { return 2 }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 {
            let code = errno
            throw ErrorLogOpenError(message: "open() \"\(path)\" failed (\(code): \(String(cString: strerror(code))))")
        }
        return fd
    }

    /// `-s reopen` (SIGUSR1): reopen the file so log rotation works (done by the writer, between batches).
    public func reopen() {
        writer.reopen()
    }

    /// Waits (bounded) until every line logged so far is written: before the process exits.
    public func flush() {
        writer.flush()
    }

    public var writesToStderr: Bool { path == "stderr" }

    public func isEnabled(_ level: LogLevel) -> Bool { level <= self.level }

    public func log(_ level: LogLevel, _ message: @autoclosure () -> String, connection: UInt64? = nil) {
        guard isEnabled(level) else { return }
        var line = Self.timestamp()
        line += " [\(level.name)] \(getpid())#0: "
        if let connection { line += "*\(connection) " }
        line += message()
        line += "\n"
        writer.append(line)
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)/\(two(parts.tm_mon + 1))/\(two(parts.tm_mday)) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
    }
}

public struct ErrorLogOpenError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
