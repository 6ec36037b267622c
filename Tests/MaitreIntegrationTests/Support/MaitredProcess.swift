import Foundation
import NIOConcurrencyHelpers
import XCTest

/// The built `maitred` binary run as a child process, as an operator runs it.
struct MaitredBinary {
    static var path: String {
        // MAITRED_BINARY runs the suite against another build (a release or link-time-optimised binary).
        if let override = ProcessInfo.processInfo.environment["MAITRED_BINARY"], !override.isEmpty {
            return override
        }
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

    /// Waits (bounded) until maitred catches every signal in `signals`, read from the SigCgt mask in
    /// /proc/<pid>/status. maitred accepts connections before its signal handling is ready: it sets the signals
    /// to SIG_IGN and arms dispatch sources, which install their handlers asynchronously; a signal sent in
    /// between is lost (and one sent before that kills it by the default action). A test that signals maitred
    /// waits for this first, so it tests the signal's handling and not that startup window.
    /// Without /proc (macOS) there is nothing to observe and it returns true at once.
    static func waitForSignalHandlers(pid: Int32, _ signals: [Int32] = [SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1],
                                      timeout: TimeInterval = 10) -> Bool {
        #if os(Linux)
        let wanted = signals.reduce(UInt64(0)) { $0 | (UInt64(1) << UInt64($1 - 1)) }
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status = readFile("/proc/\(pid)/status"),
                let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigCgt:") }),
                let caught = UInt64(line.dropFirst("SigCgt:".count).trimmingCharacters(in: .whitespaces), radix: 16),
                caught & wanted == wanted
            {
                return true
            }
            if Date() >= deadline { return false }
            usleep(2_000)
        }
        #else
        return true
        #endif
    }

    /// The exit status, or nil while the process runs (reading terminationStatus then is a crash in Foundation).
    static func exitStatus(_ process: Process) -> Int32? {
        process.isRunning ? nil : process.terminationStatus
    }
}
