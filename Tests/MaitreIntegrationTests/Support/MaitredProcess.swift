import Foundation
import NIOConcurrencyHelpers
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

    /// Runs maitred to completion (bounded by `timeout`), capturing both streams. Both pipes are drained while it
    /// runs (a chatty child cannot block on a full pipe), and reading them is bounded too: a detached child that
    /// kept a pipe open would otherwise make the read wait for its exit.
    static func run(_ arguments: [String], timeout: TimeInterval = 20) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let readers = DispatchGroup()
        let captured = NIOLockedValueBox((out: Data(), err: Data()))
        for (pipe, isOut) in [(out, true), (err, false)] {
            let handle = pipe.fileHandleForReading
            readers.enter()
            Thread {
                let data = handle.readDataToEndOfFile()
                captured.withLockedValue { if isOut { $0.out = data } else { $0.err = data } }
                readers.leave()
            }.start()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            if !waitForExit(process, timeout: 5) {
                kill(process.processIdentifier, SIGKILL)
                _ = waitForExit(process, timeout: 5)
            }
            throw TestHTTPClient.Failure(description: "maitred \(arguments) did not finish within \(timeout)s")
        }
        guard readers.wait(timeout: .now() + 5) == .success else {
            throw TestHTTPClient.Failure(
                description: "maitred \(arguments) exited but its stdout or stderr stayed open for 5 s")
        }
        let (stdout, stderr) = captured.withLockedValue { ($0.out, $0.err) }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: stdout, as: UTF8.self),
            stderr: String(decoding: stderr, as: UTF8.self))
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
