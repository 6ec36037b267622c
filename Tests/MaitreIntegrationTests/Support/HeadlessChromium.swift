#if canImport(Glibc)
import Glibc
#endif
import Foundation
import XCTest

/// Debian's `chromium`, headless, driven over the DevTools protocol through `--remote-debugging-pipe` (JSON
/// messages separated by NUL on fds 3 and 4: no websocket, no extra package). One page; every JavaScript
/// exception and console error the page raises is collected. The browser is stopped by its PID.
final class HeadlessChromium {
    static let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let pid: pid_t
    private let toBrowser: Int32
    private let fromBrowser: Int32
    private var buffer: [UInt8] = []
    private var nextID = 1
    private var session = ""
    /// Exceptions and console errors, as the page reported them.
    private(set) var pageErrors: [String] = []
    private let profile: String
    private var stopped = false

    init(url: String, width: Int = 1280, height: Int = 860) throws {
        guard let path = Self.path else { throw Failure(description: "chromium is not installed (.ci/run installs it)") }
        profile = try makeTemporaryDirectory()
        var inbound: [Int32] = [0, 0]  // the browser reads fd 3
        var outbound: [Int32] = [0, 0]  // the browser writes fd 4
        guard pipe(&inbound) == 0, pipe(&outbound) == 0 else { throw Failure(description: "pipe() failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inbound[0], 3)
        posix_spawn_file_actions_adddup2(&actions, outbound[1], 4)
        let devNull = open("/dev/null", O_WRONLY)
        posix_spawn_file_actions_adddup2(&actions, devNull, 1)
        posix_spawn_file_actions_adddup2(&actions, devNull, 2)
        let arguments = [
            path, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--remote-debugging-pipe", "--user-data-dir=\(profile)", "--window-size=\(width),\(height)", "about:blank",
        ]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, path, &actions, nil, &argv, environ)
        close(inbound[0])
        close(outbound[1])
        close(devNull)
        guard rc == 0 else { throw Failure(description: "posix_spawn(chromium) failed: \(rc)") }
        pid = child
        toBrowser = inbound[1]
        fromBrowser = outbound[0]
        let target = try call("Target.createTarget", ["url": url])
        guard let targetID = target["targetId"] as? String else { throw Failure(description: "no target: \(target)") }
        let attached = try call("Target.attachToTarget", ["targetId": targetID, "flatten": true])
        guard let id = attached["sessionId"] as? String else { throw Failure(description: "no session: \(attached)") }
        session = id
        _ = try call("Runtime.enable", [:], inPage: true)
    }

    deinit {
        stop()
    }

    /// Idempotent: tests call it in a `defer` and `deinit` calls it again. A second `close` of the pipe fds would
    /// close whatever reused those numbers meanwhile (once an accepted NIO socket, which then failed epoll_ctl with
    /// EBADF and took the test process down), and a second `kill` could reach a reused pid.
    func stop() {
        guard pid > 0, !stopped else { return }
        stopped = true
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(toBrowser)
        close(fromBrowser)
        removeDirectory(profile)
    }

    /// Evaluates `expression` in the page; its value as JSON would give it (nil for undefined).
    func evaluate(_ expression: String) throws -> Any? {
        let result = try call("Runtime.evaluate", ["expression": expression, "returnByValue": true], inPage: true)
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Polls `expression` until it is true or `timeout` passes.
    func waitFor(_ expression: String, timeout: TimeInterval) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try evaluate(expression) as? Bool == true { return true }
            usleep(100_000)
        }
        return false
    }

    /// A PNG of the page as it is now.
    func screenshot() throws -> Data {
        let result = try call("Page.captureScreenshot", ["format": "png", "captureBeyondViewport": true], inPage: true)
        guard let text = result["data"] as? String, let data = Data(base64Encoded: text) else {
            throw Failure(description: "no screenshot")
        }
        return data
    }

    // MARK: protocol

    private func call(_ method: String, _ params: [String: Any], inPage: Bool = false) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if inPage { message["sessionId"] = session }
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { write(toBrowser, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the browser's pipe closed") }
            sent += count
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let reply = try readMessage(until: deadline)
            if let replyID = reply["id"] as? Int, replyID == id {
                if let error = reply["error"] { throw Failure(description: "\(method): \(error)") }
                return reply["result"] as? [String: Any] ?? [:]
            }
            note(event: reply)
        }
        throw Failure(description: "\(method): no answer within 30 s")
    }

    private func note(event: [String: Any]) {
        let params = event["params"] as? [String: Any] ?? [:]
        switch event["method"] as? String {
        case "Runtime.exceptionThrown":
            let details = params["exceptionDetails"] as? [String: Any]
            let exception = (details?["exception"] as? [String: Any])?["description"] as? String
            pageErrors.append(exception ?? (details?["text"] as? String) ?? "exception")
        case "Runtime.consoleAPICalled" where params["type"] as? String == "error":
            let args = (params["args"] as? [[String: Any]] ?? []).map { "\($0["value"] ?? $0["description"] ?? "")" }
            pageErrors.append("console.error: " + args.joined(separator: " "))
        default:
            break
        }
    }

    private func readMessage(until deadline: Date) throws -> [String: Any] {
        while true {
            if let end = buffer.firstIndex(of: 0) {
                let message = Array(buffer[..<end])
                buffer.removeFirst(end + 1)
                return try JSONSerialization.jsonObject(with: Data(message)) as? [String: Any] ?? [:]
            }
            var descriptor = pollfd(fd: fromBrowser, events: Int16(POLLIN), revents: 0)
            let wait = Int32(max(0, deadline.timeIntervalSinceNow) * 1000)
            guard poll(&descriptor, 1, wait) > 0 else { throw Failure(description: "the browser said nothing in time") }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = read(fromBrowser, &chunk, chunk.count)
            guard count > 0 else { throw Failure(description: "the browser's pipe closed") }
            buffer += chunk[..<count]
        }
    }
}
