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

/// A running maitred: one event loop per `worker_processes`, the listeners, and the signals nginx answers
/// (HUP reload, QUIT graceful stop, TERM/INT fast stop, USR1 reopen logs).
final class Runner: Sendable {
    private let log: ErrorLog
    private let paths: Paths
    private let options: CommandLineOptions
    private let stop = NIOLockedValueBox<StopRequest?>(nil)
    private let stopSignal = DispatchSemaphore(value: 0)

    enum StopRequest {
        case fast
        case graceful
    }

    init(log: ErrorLog, paths: Paths, options: CommandLineOptions) {
        self.log = log
        self.paths = paths
        self.options = options
    }

    func run(_ configuration: Configuration) -> Int32 {
        let threads = configuration.workerProcesses.resolved(cores: System.coreCount)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        defer { try? group.syncShutdownGracefully() }
        let server = ProxyServer(group: group, log: log)
        // Signal handling is ready before the first listener accepts: a signal sent as soon as the port answers
        // is acted on, never lost (nor left to its default action, which would kill the process).
        let sources = installSignalHandlers(server: server, workerProcesses: configuration.workerProcesses)
        do {
            try server.start(try ProxySnapshot(configuration: configuration))
        } catch {
            for source in sources { source.cancel() }
            log.log(.emerg, "\(error)")
            if !log.writesToStderr { Console.error("maitred: [emerg] \(error)") }
            return 1
        }
        started.withLockedValue { $0 = true }
        return serve(server: server, configuration: configuration, sources: sources)
    }

    /// Set once the listeners are open: a reload asked for earlier has nothing to reload yet.
    private let started = NIOLockedValueBox(false)

    /// Runs an already listening server until a stop signal, answering reloads meanwhile.
    func serve(server: ProxyServer, configuration: Configuration, sources: [any DispatchSourceSignal]? = nil) -> Int32 {
        let pid = getpid()
        if case .failure(let failure) = SmallFile.write(configuration.pidFile, pid: pid) {
            log.log(.emerg, failure.message)
            if !log.writesToStderr { Console.error("maitred: [emerg] \(failure.message)") }
            server.shutdownNow()
            return 1
        }
        let threads = server.group.makeIterator().reduce(0) { n, _ in n + 1 }
        log.log(.notice, "maitred \(MaitreVersion.string) started, \(threads) event loop\(threads == 1 ? "" : "s")")
        started.withLockedValue { $0 = true }
        let sources = sources ?? installSignalHandlers(server: server, workerProcesses: configuration.workerProcesses)
        Detach.report(0)
        var pidFile = configuration.pidFile

        stopSignal.wait()
        let request = stop.withLockedValue { $0 } ?? .fast
        switch request {
        case .graceful:
            log.log(.notice, "gracefully shutting down")
            server.shutdownGracefully(timeout: Daemon.gracefulShutdownBound)
        case .fast:
            log.log(.notice, "exiting")
            server.shutdownNow()
        }
        for source in sources { source.cancel() }
        pidFile = currentPidFile.withLockedValue { $0 } ?? pidFile
        SmallFile.remove(pidFile, pid: pid)
        log.log(.notice, "exit")
        return 0
    }

    private let currentPidFile = NIOLockedValueBox<String?>(nil)

    private func installSignalHandlers(server: ProxyServer, workerProcesses: WorkerProcesses) -> [any DispatchSourceSignal] {
        let queue = DispatchQueue(label: "maitred.signals")
        var sources: [any DispatchSourceSignal] = []
        func on(_ number: Int32, _ action: @escaping @Sendable () -> Void) {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
        signal(SIGPIPE, SIG_IGN)
        on(SIGHUP) { [self] in reload(server: server, workerProcesses: workerProcesses) }
        on(SIGQUIT) { [self] in requestStop(.graceful) }
        on(SIGTERM) { [self] in requestStop(.fast) }
        on(SIGINT) { [self] in requestStop(.fast) }
        on(SIGUSR1) { [self] in
            log.log(.notice, "reopening logs")
            server.reopenLogs()
        }
        return sources
    }

    private func requestStop(_ request: StopRequest) {
        let first = stop.withLockedValue { current -> Bool in
            guard current == nil else { return false }
            current = request
            return true
        }
        if first { stopSignal.signal() }
    }

    private func reload(server: ProxyServer, workerProcesses: WorkerProcesses) {
        guard started.withLockedValue({ $0 }) else {
            log.log(.notice, "signal 1 (SIGHUP) received before the listeners opened: nothing to reconfigure yet")
            return
        }
        log.log(.notice, "signal 1 (SIGHUP) received, reconfiguring")
        do {
            let configuration = try ConfigLoader.load(
                file: paths.configFile, prefix: paths.prefix, globalDirectives: options.globalDirectives)
            if configuration.workerProcesses != workerProcesses {
                log.log(.warn, "\"worker_processes\" changed: the new value takes effect on restart")
            }
            try server.reload(try ProxySnapshot(configuration: configuration))
            if case .success = SmallFile.write(configuration.pidFile, pid: getpid()) {
                currentPidFile.withLockedValue { $0 = configuration.pidFile }
            }
            server.registry.noteReload(succeeded: true)
            log.log(.notice, "reconfigured from \(configuration.mainFile)")
        } catch let error as ConfigError {
            server.registry.noteReload(succeeded: false)
            log.log(.emerg, error.description)
        } catch {
            server.registry.noteReload(succeeded: false)
            log.log(.emerg, "\(error)")
        }
    }
}
