#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// A real redis-server on a loopback port of its own, with no persistence, stopped by its PID. `.ci/run`
/// installs redis-server (Debian's package).
final class TestRedis {
    let port: Int
    private let extraArguments: [String]
    private var process: Process?

    static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") }

    init(port: Int? = nil, arguments: [String] = []) throws {
        guard Self.isInstalled else { throw Failure("redis-server is not installed (.ci/run installs it)") }
        self.port = try port ?? freeLoopbackPort()
        self.extraArguments = arguments
        try start()
    }

    var address: String { "127.0.0.1:\(port)" }

    /// Starts the server (again, on the same port after `kill`) and waits until it answers PING.
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = [
            "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--loglevel", "warning", "--protected-mode", "no",
        ] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        guard pollUntil(timeout: 10, { (try? self.command(["PING"])) == "PONG" }) else {
            kill()
            throw Failure("redis-server did not start on port \(port)")
        }
    }

    /// Kills the server at once (SIGKILL by PID), as a crash would.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit { kill() }

    /// One command through redis-cli; its output without the trailing newline.
    @discardableResult
    func command(_ arguments: [String]) throws -> String {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        cli.arguments = ["-h", "127.0.0.1", "-p", String(port)] + extraCLIArguments + arguments
        let output = Pipe()
        cli.standardOutput = output
        cli.standardError = FileHandle.nullDevice
        try cli.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        cli.waitUntilExit()
        var text = String(decoding: data, as: UTF8.self)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private var extraCLIArguments: [String] {
        guard let index = extraArguments.firstIndex(of: "--requirepass"), index + 1 < extraArguments.count else {
            return []
        }
        return ["--no-auth-warning", "-a", extraArguments[index + 1]]
    }
}
