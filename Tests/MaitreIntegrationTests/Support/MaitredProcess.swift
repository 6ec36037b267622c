import Foundation
import XCTest

/// The built `maitred` binary run as a child process, as an operator runs it.
struct MaitredBinary {
    static var path: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0])
        var directory = testBinary.deletingLastPathComponent()
        // On macOS the xctest bundle is a directory tree; on Linux it is a file next to the products.
        while directory.path != "/" && !FileManager.default.fileExists(atPath: directory.appendingPathComponent("maitred").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("maitred").path
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs maitred to completion (bounded by `timeout`), capturing both streams.
    static func run(_ arguments: [String], timeout: TimeInterval = 20) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
            throw TestHTTPClient.Failure(description: "maitred \(arguments) did not finish within \(timeout)s")
        }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            stderr: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    /// Starts maitred in the background; stdout and stderr go to files in `directory`.
    static func start(_ arguments: [String], directory: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        _ = FileManager.default.createFile(atPath: directory + "/stdout", contents: nil)
        _ = FileManager.default.createFile(atPath: directory + "/stderr", contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: directory + "/stdout")
        process.standardError = FileHandle(forWritingAtPath: directory + "/stderr")
        try process.run()
        return process
    }

    /// Waits (bounded) until something accepts connections on 127.0.0.1:`port`.
    static func waitForPort(_ port: Int, timeout: TimeInterval = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if (try? TestHTTPClient(port: port, timeoutSeconds: 1)) != nil { return true }
            usleep(20_000)
        }
        return false
    }

    /// Waits (bounded) for the process to exit; returns false if it is still running.
    static func waitForExit(_ process: Process, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        return !process.isRunning
    }
}
