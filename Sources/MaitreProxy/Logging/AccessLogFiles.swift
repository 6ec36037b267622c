#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MaitreConfig
import NIOConcurrencyHelpers

/// Every access-log file of the process, each with its writer thread, by path. A configuration's files are opened
/// (created) before it is served, so a path that cannot be opened fails the start or the reload with nginx's
/// message and loses nothing; files a reload stops using stay open (their writer thread with them) in case a
/// later configuration names them again. Troubles while writing go to the error log.
final class AccessLogFiles: Sendable {
    private let writers = NIOLockedValueBox<[String: LogWriter]>([:])
    private let errorLog: ErrorLog

    init(errorLog: ErrorLog) {
        self.errorLog = errorLog
    }

    /// The writers of every access log `configuration` names, opening the files not open yet.
    func open(for configuration: Configuration) throws(AccessLogOpenError) -> [String: LogWriter] {
        let paths = Set(configuration.accessLogs.map(\.path))
        var opened: [String: LogWriter] = [:]
        for path in paths.sorted() {
            if let existing = writers.withLockedValue({ $0[path] }) {
                opened[path] = existing
                continue
            }
            let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                let code = errno
                throw AccessLogOpenError(
                    message: "open() \"\(path)\" failed (\(code): \(String(cString: strerror(code))))")
            }
            let log = errorLog
            let writer = LogWriter(
                path: path, descriptor: descriptor, limit: 8 << 20, label: "access log",
                problems: { message in log.log(.alert, message) })
            writers.withLockedValue { $0[path] = writer }
            opened[path] = writer
        }
        return opened
    }

    /// `-s reopen`: every writer reopens its file before its next batch.
    func reopenAll() {
        for writer in writers.withLockedValue({ Array($0.values) }) { writer.reopen() }
    }

    /// Waits (bounded) for every queued line to be written: at exit.
    func flushAll() {
        for writer in writers.withLockedValue({ Array($0.values) }) { writer.flush() }
    }
}

public struct AccessLogOpenError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension Configuration {
    /// Some location serves the `metrics` page, the `status` page or the `api`: request figures are recorded.
    var hasMetricsPage: Bool {
        func serves(_ location: Location) -> Bool {
            switch location.handler {
            case .metrics?, .statusPage?, .api?: return true
            default: return location.children.contains(where: serves)
            }
        }
        return (http?.servers ?? []).contains { $0.locations.contains(where: serves) }
    }

    /// Every `access_log` line in force anywhere (servers and locations, nested ones included).
    var accessLogs: [AccessLog] {
        var out: [AccessLog] = []
        func visit(_ location: Location) {
            out += location.settings.accessLogs
            for child in location.children { visit(child) }
        }
        for server in http?.servers ?? [] {
            out += server.settings.accessLogs
            for location in server.locations { visit(location) }
        }
        for server in stream?.servers ?? [] { out += server.settings.accessLogs }
        return out
    }
}
