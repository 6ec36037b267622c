#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import MaitreConfig
import MaitreProxy
import NIOCore
import NIOPosix
import XCTest

/// maitred's proxy started in-process from an nginx-dialect text, on a free loopback port.
/// In the text, `PROXY_PORT` stands for that port and `TMP` for a fresh temporary directory.
/// The event loop group has as many loops as the text's `worker_processes` (resolved as maitred's Runner does),
/// unless `workers` overrides it.
final class ProxyHarness {
    let group: MultiThreadedEventLoopGroup
    let server: ProxyServer
    let port: Int
    let directory: String
    let configuration: Configuration

    /// The error log's file when `logFileLevel` was given (`errorLogText` reads it).
    var errorLogPath: String { directory + "/error.log" }

    /// `logFileLevel`: the error log goes to `errorLogPath` at that level instead of stderr at `logLevel`.
    init(_ text: String, workers: Int? = nil, logLevel: LogLevel = .crit, logFileLevel: LogLevel? = nil) throws {
        directory = try makeTemporaryDirectory()
        mkdir(directory + "/logs", 0o755)  // nginx's default access log is <prefix>logs/access.log
        port = try freeLoopbackPort()
        let resolved = text.replacingOccurrences(of: "PROXY_PORT", with: String(port))
            .replacingOccurrences(of: "TMP", with: directory)
        let file = directory + "/maitre.conf"
        try writeFile(file, resolved)
        configuration = try ConfigLoader.load(file: file, prefix: directory + "/")
        group = MultiThreadedEventLoopGroup(
            numberOfThreads: workers ?? configuration.workerProcesses.resolved(cores: System.coreCount))
        let log: ErrorLog
        if let logFileLevel {
            log = try ErrorLog(setting: ErrorLogSetting(path: directory + "/error.log", level: logFileLevel))
        } else {
            log = ErrorLog(stderrAt: logLevel)
        }
        server = ProxyServer(group: group, log: log)
        try server.start(try ProxySnapshot(configuration: configuration))
    }

    /// Serves `text` from now on, as SIGHUP does (same PROXY_PORT and TMP substitutions).
    func reload(_ text: String) throws {
        let resolved = text.replacingOccurrences(of: "PROXY_PORT", with: String(port))
            .replacingOccurrences(of: "TMP", with: directory)
        let file = directory + "/maitre.conf"
        try writeFile(file, resolved)
        try server.reload(try ProxySnapshot(configuration: try ConfigLoader.load(file: file, prefix: directory + "/")))
    }

    func client(source: String? = nil, timeoutSeconds: Int = 10) throws -> TestHTTPClient {
        try TestHTTPClient(port: port, source: source, timeoutSeconds: timeoutSeconds)
    }

    /// One request on a fresh connection.
    func get(_ path: String, headers: [(String, String)] = [], source: String? = nil) throws -> TestHTTPClient.Response {
        try client(source: source).request("GET", path, headers: headers)
    }

    func stop() {
        server.shutdownNow()
        try? group.syncShutdownGracefully()
        removeDirectory(directory)
    }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/maitre-test-XXXXXX".utf8CString)
    guard let result = mkdtemp(&template) else { throw TestHTTPClient.Failure(description: "mkdtemp failed") }
    return String(cString: result)
}

func writeFile(_ path: String, _ text: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw TestHTTPClient.Failure(description: "open(\(path)) failed") }
    defer { close(fd) }
    _ = text.withCString { write(fd, $0, strlen($0)) }
}

func readFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

func removeDirectory(_ path: String) {
    guard path.hasPrefix("/tmp/maitre-test-") else { return }
    _ = path.withCString { p in
        // Small temporary trees only: a config, a pid file, a log.
        let dir = opendir(p)
        if let dir {
            while let entry = readdir(dir) {
                let name = withUnsafePointer(to: entry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { unlink(path + "/" + name) }
            }
            closedir(dir)
        }
        return rmdir(p)
    }
}

/// A TCP socket bound to 127.0.0.1 on a kernel-chosen port, listening when `backlog` is given.
func bindLoopbackSocket(listenBacklog backlog: Int32?) throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let rc = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p -> Int32 in
            guard bind(fd, p, length) == 0 else { return -1 }
            if let backlog, listen(fd, backlog) != 0 { return -1 }
            return getsockname(fd, p, &length)
        }
    }
    guard rc == 0 else {
        close(fd)
        throw TestHTTPClient.Failure(description: "could not bind a loopback socket")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// A port nothing listens on right now (bound and released), for configs that need a fixed number.
func freeLoopbackPort() throws -> Int {
    let (fd, port) = try bindLoopbackSocket(listenBacklog: nil)
    close(fd)
    return port
}

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`); throws when it cannot be read, so a memory check
/// fails instead of seeing 0.
func processStatusBytes(_ field: String) throws -> Int {
    guard let status = readFile("/proc/self/status") else {
        throw TestHTTPClient.Failure(description: "cannot read /proc/self/status")
    }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        if let kib = Int(line.filter(\.isNumber)) { return kib * 1024 }
    }
    throw TestHTTPClient.Failure(description: "no \(field) line in /proc/self/status")
}

/// The peak resident memory of this process over a stretch of work, from two sources: a thread that reads VmRSS
/// every 20 ms, and VmHWM (the kernel's own high-water mark) after resetting it by writing "5" to
/// /proc/self/clear_refs, when this kernel allows that. The peak is what a proxy that buffered a whole body and
/// freed it afterwards would show; the resident size after the work would not.
final class PeakMemoryMonitor: @unchecked Sendable {
    /// VmRSS when monitoring started.
    let baseline: Int
    /// Whether VmHWM was reset at the start (it then covers every moment, not only the samples).
    let highWaterMarkWasReset: Bool
    private let lock = NSLock()
    private var sampledPeak: Int
    private var samples = 0
    private var readFailure: String?
    private var stopping = false
    private var joined = false
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        baseline = try processStatusBytes("VmRSS")
        highWaterMarkWasReset = try Self.resetHighWaterMark()
        sampledPeak = baseline
        let thread = Thread { [self] in
            while true {
                lock.lock()
                let stop = stopping
                lock.unlock()
                if stop { break }
                do {
                    let rss = try processStatusBytes("VmRSS")
                    lock.lock()
                    sampledPeak = max(sampledPeak, rss)
                    samples += 1
                    lock.unlock()
                } catch {
                    lock.lock()
                    readFailure = "\(error)"
                    lock.unlock()
                    break
                }
                usleep(20_000)
            }
            finished.signal()
        }
        thread.start()
    }

    /// Writes "5" to /proc/self/clear_refs and checks that VmHWM came down to about VmRSS (within 1 MiB, the
    /// memory that may be touched between the two reads). False when the kernel refuses or ignores it.
    private static func resetHighWaterMark() throws -> Bool {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return false }
        let written = write(fd, "5", 1)
        close(fd)
        guard written == 1 else { return false }
        let highWaterMark = try processStatusBytes("VmHWM")
        let resident = try processStatusBytes("VmRSS")
        return highWaterMark <= resident + (1 << 20)
    }

    /// Stops sampling and returns the peak seen; throws when /proc could not be read or nothing was sampled.
    /// May be called again (a `defer` after an early exit); later calls return the same peak.
    @discardableResult
    func stop() throws -> (peak: Int, samples: Int) {
        lock.lock()
        stopping = true
        let alreadyJoined = joined
        lock.unlock()
        if !alreadyJoined {
            guard finished.wait(timeout: .now() + 5) == .success else {
                throw TestHTTPClient.Failure(description: "the memory sampling thread did not stop")
            }
            lock.lock()
            joined = true
            lock.unlock()
        }
        lock.lock()
        defer { lock.unlock() }
        if let readFailure { throw TestHTTPClient.Failure(description: "reading VmRSS failed: \(readFailure)") }
        guard samples > 0 else { throw TestHTTPClient.Failure(description: "no VmRSS sample was taken") }
        var peak = sampledPeak
        if highWaterMarkWasReset { peak = max(peak, try processStatusBytes("VmHWM")) }
        return (peak, samples)
    }
}
