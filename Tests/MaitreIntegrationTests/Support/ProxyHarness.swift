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
final class ProxyHarness {
    let group: MultiThreadedEventLoopGroup
    let server: ProxyServer
    let port: Int
    let directory: String
    let configuration: Configuration

    init(_ text: String, workers: Int = 1, logLevel: LogLevel = .crit) throws {
        directory = try makeTemporaryDirectory()
        port = try freeLoopbackPort()
        let resolved = text.replacingOccurrences(of: "PROXY_PORT", with: String(port))
            .replacingOccurrences(of: "TMP", with: directory)
        let file = directory + "/maitre.conf"
        try writeFile(file, resolved)
        configuration = try ConfigLoader.load(file: file, prefix: directory + "/")
        group = MultiThreadedEventLoopGroup(numberOfThreads: workers)
        server = ProxyServer(group: group, log: ErrorLog(stderrAt: logLevel))
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

/// Resident memory of this process in bytes (VmRSS).
func residentMemoryBytes() -> Int {
    guard let status = readFile("/proc/self/status") else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let digits = line.filter(\.isNumber)
        return (Int(digits) ?? 0) * 1024
    }
    return 0
}
