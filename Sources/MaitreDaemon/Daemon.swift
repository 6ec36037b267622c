#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import MaitreConfig
import MaitreProxy
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The `maitred` process: reads options, then tests the configuration, signals a running maitred, or runs.
/// Everything it has to say goes to standard error (or the error log once running), as nginx does; only
/// `-T`'s dump goes to standard output.
public enum Daemon {
    /// How long SIGQUIT waits for in-flight requests before cutting the remaining connections.
    public static let gracefulShutdownBound: TimeAmount = .seconds(30)

    public static func main(arguments: [String]) -> Int32 {
        let options: CommandLineOptions
        do {
            options = try CommandLineOptions.parse(Array(arguments.dropFirst()))
        } catch {
            Console.error("maitred: \(error.message)")
            return 1
        }
        if options.showVersion {
            Console.error(MaitreVersion.banner)
            if options.showConfigure {
                Console.error("built with Swift \(MaitreVersion.swiftVersion), SwiftNIO")
            }
        }
        if options.showHelp {
            Console.error(MaitreVersion.banner)
            Console.error(CommandLineOptions.usage)
        }
        if options.showHelp || options.showVersion { return 0 }
        if options.demo { return Demo.run() }

        let paths = Paths(options: options)
        if options.testConfig { return testConfiguration(paths: paths, options: options) }
        if let signal = options.signal { return send(signal, paths: paths, options: options) }
        return run(paths: paths, options: options)
    }

    // MARK: - -t / -T

    static func testConfiguration(paths: Paths, options: CommandLineOptions) -> Int32 {
        do {
            let configuration = try ConfigLoader.load(
                file: paths.configFile, prefix: paths.prefix, globalDirectives: options.globalDirectives)
            for warning in configuration.warnings {
                Console.error("maitred: [warn] \(warning.description)")
            }
            if !options.quiet {
                Console.error("maitred: the configuration file \(configuration.mainFile) syntax is ok")
                Console.error("maitred: configuration file \(configuration.mainFile) test is successful")
            }
            if options.dumpConfig {
                for file in configuration.files {
                    Console.output("# configuration file \(file.path):\n\(file.contents)\n")
                }
            }
            return 0
        } catch {
            Console.error("maitred: [emerg] \(error.description)")
            Console.error("maitred: configuration file \(paths.configFile) test failed")
            return 1
        }
    }

    // MARK: - -s

    static func send(_ signal: CommandLineOptions.Signal, paths: Paths, options: CommandLineOptions) -> Int32 {
        guard let configuration = loadOrReport(paths: paths, options: options) else { return 1 }
        if signal == .drain || signal == .up {
            switch DrainCommand.run(
                signal, target: options.peerTarget ?? "", wait: options.drainWaitMilliseconds,
                configuration: configuration)
            {
            case .success(let message):
                if !options.quiet { Console.error("maitred: \(message)") }
                return 0
            case .failure(let failure):
                Console.error("maitred: [error] \(failure.message)")
                return 1
            }
        }
        let pidFile = configuration.pidFile
        let contents: String
        switch SmallFile.read(pidFile) {
        case .success(let text): contents = text
        case .failure(let error):
            Console.error("maitred: [error] \(error.message)")
            return 1
        }
        let trimmed = contents.trimmingWhitespace()
        guard let pid = Int32(trimmed), pid > 0 else {
            Console.error("maitred: [error] invalid PID number \"\(trimmed)\" in \"\(pidFile)\"")
            return 1
        }
        let number: Int32
        switch signal {
        case .stop: number = SIGTERM
        case .quit: number = SIGQUIT
        case .reopen: number = SIGUSR1
        case .reload: number = SIGHUP
        case .drain, .up: return 1  // answered above
        }
        if kill(pid, number) != 0 {
            let code = errno
            Console.error("maitred: [alert] kill(\(pid), \(number)) failed (\(code): \(String(cString: strerror(code))))")
            return 1
        }
        return 0
    }

    /// Loads the configuration, or says why not on stderr and returns nil.
    static func loadOrReport(paths: Paths, options: CommandLineOptions) -> Configuration? {
        do {
            return try ConfigLoader.load(
                file: paths.configFile, prefix: paths.prefix, globalDirectives: options.globalDirectives)
        } catch {
            Console.error("maitred: [emerg] \(error.description)")
            return nil
        }
    }

    // MARK: - run

    static func run(paths: Paths, options: CommandLineOptions) -> Int32 {
        guard let configuration = loadOrReport(paths: paths, options: options) else { return 1 }
        for warning in configuration.warnings {
            Console.error("maitred: [warn] \(warning.description)")
        }
        var logSetting = configuration.errorLog
        if let override = options.errorLog {
            logSetting.path = override == "stderr" ? "stderr" : Paths.absolute(override, prefix: paths.prefix)
        }
        // Detach first (nothing is open yet but standard streams), so the daemon holds only what it opens itself.
        if configuration.daemon, let parentStatus = Detach.detach() {
            return parentStatus
        }
        let log: ErrorLog
        do {
            log = try ErrorLog(setting: logSetting)
        } catch {
            Console.error("maitred: [emerg] \(error.message)")
            Detach.report(1)
            return 1
        }
        let runner = Runner(log: log, paths: paths, options: options)
        let status = runner.run(configuration)
        log.flush()
        Detach.report(status)  // only reached here when starting failed; a started server reported already
        return status
    }
}

/// Where things are: prefix and main configuration file, resolved as nginx resolves them.
public struct Paths: Sendable {
    public var prefix: String
    public var configFile: String

    init(prefix: String, configFile: String) {
        self.prefix = prefix
        self.configFile = configFile
    }

    init(options: CommandLineOptions) {
        let cwd = Paths.currentDirectory()
        var prefix = options.prefix.map { Paths.absolute($0, prefix: cwd + "/") } ?? cwd
        if !prefix.hasSuffix("/") { prefix += "/" }
        self.prefix = prefix
        self.configFile = Paths.absolute(options.configFile ?? "conf/maitre.conf", prefix: prefix)
    }

    static func absolute(_ path: String, prefix: String) -> String {
        if path.hasPrefix("/") { return path }
        return (prefix.hasSuffix("/") ? prefix : prefix + "/") + path
    }

    static func currentDirectory() -> String {
        guard let pointer = getcwd(nil, 0) else { return "/" }
        defer { free(pointer) }
        return String(cString: pointer)
    }
}

enum Console {
    static func error(_ line: String) {
        var text = line
        if !text.hasSuffix("\n") { text += "\n" }
        text.withCString { _ = write(2, $0, strlen($0)) }
    }

    static func output(_ text: String) {
        text.withCString { _ = write(1, $0, strlen($0)) }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
