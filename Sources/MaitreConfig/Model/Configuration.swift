/// The whole loaded configuration: the typed result of parsing and validating an nginx-dialect file tree.
public struct Configuration: Sendable {
    /// The main file as given (`-c`), made absolute.
    public var mainFile: String
    /// Every file read, main file first, in load order (for `-T`).
    public var files: [LoadedFile]
    /// `worker_processes N|auto` (main). Default 1, as nginx.
    public var workerProcesses: WorkerProcesses
    /// `pid FILE` (main), absolute. Default `<prefix>/logs/maitred.pid`.
    public var pidFile: String
    /// `error_log FILE [level]` (main). Default `<prefix>/logs/error.log error`; `stderr` is allowed.
    public var errorLog: ErrorLogSetting
    /// `events { worker_connections N; }`. Default 512, as nginx.
    public var workerConnections: Int
    /// `daemon on|off` (main). Default off: maitred stays in the foreground unless asked to detach (nginx's
    /// default is on; see docs/directives.md).
    public var daemon = false
    /// `master_process on|off` (main). Accepted for nginx compatibility; maitred is always one process.
    public var masterProcess = true
    /// `http { }`, absent when the file has no http block.
    public var http: HTTPConfiguration?
    /// `stream { }`, absent when the file has no stream block.
    public var stream: StreamConfiguration?
    /// Problems nginx only warns about (e.g. `conflicting server name "x" on 0.0.0.0:80, ignored`); loading went on.
    public var warnings: [ConfigError] = []

    public init(
        mainFile: String, files: [LoadedFile], workerProcesses: WorkerProcesses, pidFile: String,
        errorLog: ErrorLogSetting, workerConnections: Int, http: HTTPConfiguration?
    ) {
        self.mainFile = mainFile
        self.files = files
        self.workerProcesses = workerProcesses
        self.pidFile = pidFile
        self.errorLog = errorLog
        self.workerConnections = workerConnections
        self.http = http
    }
}

public struct LoadedFile: Sendable, Equatable {
    public var path: String
    public var contents: String
    public init(path: String, contents: String) {
        self.path = path
        self.contents = contents
    }
}

public enum WorkerProcesses: Sendable, Equatable {
    case auto
    case count(Int)

    /// The number of event loops to run, `auto` meaning one per core.
    public func resolved(cores: Int) -> Int {
        switch self {
        case .auto: return max(1, cores)
        case .count(let n): return max(1, n)
        }
    }
}

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    // nginx's order, most severe first.
    case emerg = 0, alert, crit, error, warn, notice, info, debug

    public var name: String {
        switch self {
        case .emerg: return "emerg"
        case .alert: return "alert"
        case .crit: return "crit"
        case .error: return "error"
        case .warn: return "warn"
        case .notice: return "notice"
        case .info: return "info"
        case .debug: return "debug"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

public struct ErrorLogSetting: Sendable, Equatable {
    /// Absolute path, or `stderr`.
    public var path: String
    public var level: LogLevel
    public init(path: String, level: LogLevel) {
        self.path = path
        self.level = level
    }
}

/// Where a directive was written, for messages that name file and line.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
    public var description: String { "\(file):\(line)" }
}
